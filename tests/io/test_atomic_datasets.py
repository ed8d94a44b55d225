"""The catalog's dataset types: a save that dies part-way leaves no partial file under the final
name (the previous version stays the latest and loads), and ``exists()`` means readable."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import Version
from kedro.io.core import DatasetError

from hca_dtl.data.files import sweep_stale_temporaries, this_host
from hca_dtl.io import (
    CSVDataset,
    JSONDataset,
    KerasModelDataset,
    ParquetDataset,
    PlotlyJSONDataset,
    TextDataset,
)

V1, V2 = "2026-01-01T08.00.00.000Z", "2026-01-01T09.00.00.000Z"
TABLE = pd.DataFrame({"Metadata_Compound": ["taxol", "DMSO"], "Cells_AreaShape_Area": [1.5, 2.5]})


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    TABLE.to_parquet(buffer)
    return buffer.getvalue()


class HalfWriter:
    """Stands for data whose writer is killed part-way: writes half of a complete file, raises."""

    def __init__(self, complete: bytes | str) -> None:
        self.half = complete[: len(complete) // 2]

    def _write_half(self, stream: Any, *args: Any, **kwargs: Any) -> None:
        stream.write(self.half)
        raise RuntimeError("killed mid-write")

    to_parquet = write_json = _write_half

    def to_csv(self, path_or_buf: Any, **kwargs: Any) -> None:
        self._write_half(path_or_buf)


# name -> (dataset type, file name, good data, data whose save dies part-way)
CASES = {
    "parquet": (ParquetDataset, "cells.parquet", TABLE, HalfWriter(_parquet_bytes())),
    "csv": (CSVDataset, "table1.csv", TABLE, HalfWriter(TABLE.to_csv())),
    "json": (JSONDataset, "classes.json", {"classes": ["Actin disruptors"]},
             {"classes": list(range(5000)), "unserialisable": object()}),
    "text": (TextDataset, "report.md", "# Report\n", 12345),  # fails before writing anything
    "plotly": (PlotlyJSONDataset, "figure3.json", go.Figure(go.Bar(y=[1, 2])),
               HalfWriter(go.Figure(go.Bar(y=list(range(1000)))).to_json())),
}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "plain"])
@pytest.mark.parametrize("case", CASES)
def test_save_dying_part_way_keeps_previous_file_latest(tmp_path: Path, case: str, versioned: bool) -> None:
    kind, name, good, dying = CASES[case]
    filepath = str(tmp_path / name)
    first = kind(filepath=filepath, version=Version(None, V1) if versioned else None)
    first.save(good)
    persisted = Path(first._get_load_path())
    before = persisted.read_bytes()

    second = kind(filepath=filepath, version=Version(None, V2) if versioned else None)
    with pytest.raises(DatasetError):
        second.save(dying)

    assert _files(tmp_path) == [str(persisted.relative_to(tmp_path))]  # no partial, no temporary
    assert Path(second._get_load_path()) == persisted  # still the latest version
    assert persisted.read_bytes() == before
    assert second.exists()
    second.load()


def test_kill_9_during_save_leaves_a_temporary_that_the_next_run_sweeps(tmp_path: Path) -> None:
    filepath = tmp_path / "cells.parquet"
    ParquetDataset(filepath=str(filepath), version=Version(None, V1)).save(TABLE)
    killed = textwrap.dedent(f"""
        import os, signal, pandas as pd
        from kedro.io import Version
        from hca_dtl.io import ParquetDataset

        class Killed:
            def to_parquet(self, stream, **kwargs):
                stream.write(b"PAR1" + bytes(5000))
                stream.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        ParquetDataset(filepath={str(filepath)!r}, version=Version(None, {V2!r})).save(Killed())
    """)
    process = subprocess.run([sys.executable, "-c", killed], capture_output=True, text=True)
    assert process.returncode == -9, process.stderr

    temporaries = list(tmp_path.rglob(".*.tmp.parquet"))
    assert [p.parent.name for p in temporaries] == [V2]
    assert not (filepath / V2 / "cells.parquet").exists()
    latest = ParquetDataset(filepath=str(filepath), version=Version(None, None))
    assert latest.resolve_load_version() == V1
    pd.testing.assert_frame_equal(latest.load(), TABLE)

    assert sweep_stale_temporaries(tmp_path) == temporaries
    assert _files(tmp_path) == [f"cells.parquet/{V1}/cells.parquet"]


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}" * 2000)
        archive.writestr("model.weights.h5", os.urandom(20_000))


@pytest.mark.parametrize("case", ["parquet", "json", "plotly", "keras"])
def test_exists_is_false_for_a_truncated_file(tmp_path: Path, case: str) -> None:
    if case == "keras":
        path = tmp_path / "model.keras"
        _zip(path)
        dataset = KerasModelDataset(filepath=str(path))
    else:
        kind, name, good, _ = CASES[case]
        path = tmp_path / name
        dataset = kind(filepath=str(path))
        dataset.save(good)
    assert dataset.exists()

    with path.open("r+b") as stream:
        stream.truncate(path.stat().st_size // 2)
    assert not dataset.exists()
    assert str(path) in dataset.read_error()


def test_exists_is_false_when_the_latest_version_is_truncated(tmp_path: Path) -> None:
    filepath = str(tmp_path / "cells.parquet")
    ParquetDataset(filepath=filepath, version=Version(None, V1)).save(TABLE)
    broken = tmp_path / "cells.parquet" / V2 / "cells.parquet"  # left by an old, in-place writer
    broken.parent.mkdir()
    broken.write_bytes(_parquet_bytes()[:100])
    dataset = ParquetDataset(filepath=filepath, version=Version(None, None))
    assert not dataset.exists()
    assert f"{V2}/cells.parquet' cannot be read" in dataset.read_error()


def test_keras_model_saves_atomically_and_loads(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    filepath = str(tmp_path / "pset2_source_model.keras")
    KerasModelDataset(filepath=filepath, version=Version(None, V1)).save(model)
    assert _files(tmp_path) == [f"pset2_source_model.keras/{V1}/pset2_source_model.keras"]

    class DyingModel:
        def save(self, path: str) -> None:  # a temporary that the sweep can attribute to its writer
            assert Path(path).name == f".pset2_source_model.{this_host()}.{os.getpid()}.tmp.keras"
            Path(path).write_bytes(b"PK\x03\x04" + bytes(1000))
            raise RuntimeError("killed mid-write")

    with pytest.raises(DatasetError, match="killed mid-write"):
        KerasModelDataset(filepath=filepath, version=Version(None, V2)).save(DyingModel())
    assert _files(tmp_path) == [f"pset2_source_model.keras/{V1}/pset2_source_model.keras"]
    latest = KerasModelDataset(filepath=filepath, version=Version(None, None))
    assert latest.exists()
    assert latest.load().get_weights()[0].shape == (3, 2)
