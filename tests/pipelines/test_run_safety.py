"""Runs through a Kedro session: one run at a time per data root, temporaries of killed runs
swept at the start, unreadable inputs named before anything runs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from hca_dtl.data.files import this_host
from hca_dtl.data.lock import RunLockedError
from hca_dtl.hooks import MissingInputsError
from hca_dtl.reporting.tables import ACCURACY, DIFFERENCE

TINY_DATA = {"data_source": {"synthetic": {"n_cells": 1500, "seed": 3}}}
VERSION = "2026-01-01T08.00.00.000Z"


pytestmark = pytest.mark.slow


def _run(project: Path, pipeline: str, params: dict | None = None, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params or TINY_DATA) as session:
        session.run(pipeline_names=[pipeline], **kwargs)


def _hold_lock(project: Path, pid: int) -> dict:
    holder = {"pid": pid, "host": this_host(), "started": "2026-01-01T08:00:00+00:00",
              "command": "kedro run --env=paper"}
    (project / "data" / "run.lock").write_text(json.dumps(holder))
    return holder


def test_a_second_run_fails_at_once_naming_the_holder(project_copy: Path, live_pid: int) -> None:
    holder = _hold_lock(project_copy, live_pid)
    with pytest.raises(RunLockedError, match=rf"PID {live_pid} .*`kedro run --env=paper`.*kill {live_pid}"):
        _run(project_copy, "ingestion")
    assert json.loads((project_copy / "data" / "run.lock").read_text()) == holder
    assert not (project_copy / "data" / "01_raw" / "manifest.json").exists()  # nothing ran


def test_unreadable_input_is_named_and_the_lock_released(project_copy: Path) -> None:
    broken = project_copy / "data" / "03_primary" / "cells.parquet" / VERSION / "cells.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PAR1" + bytes(100))  # a write killed part-way by an older, in-place writer
    with pytest.raises(MissingInputsError) as error:
        _run(project_copy, "psets")
    message = str(error.value)
    assert f"cells: '{broken}' cannot be read" in message
    assert "kedro run --pipelines=ingestion" in message
    assert not (project_copy / "data" / "run.lock").exists()


def test_stale_lock_and_temporaries_are_cleared_and_a_failed_run_releases_the_lock(
    project_copy: Path, dead_pid: int, caplog: pytest.LogCaptureFixture
) -> None:
    _hold_lock(project_copy, dead_pid)
    leftover = project_copy / "data" / "03_primary" / f".cells.{this_host()}.{dead_pid}.tmp.parquet"
    leftover.write_bytes(b"PAR1" + bytes(100))
    with caplog.at_level(logging.WARNING):
        _run(project_copy, "ingestion")
    assert f"Taking over the lock {project_copy / 'data' / 'run.lock'}" in caplog.text
    assert f"Removed {leftover}" in caplog.text
    assert not leftover.exists()
    assert not (project_copy / "data" / "run.lock").exists()

    [cells] = (project_copy / "data" / "03_primary" / "cells.parquet").glob("*/cells.parquet")
    pd.DataFrame({"not_a_cells_table": [1.0]}).to_parquet(cells)  # readable, so psets' node runs
    with pytest.raises(Exception, match="Metadata_"):  # and fails
        _run(project_copy, "psets")
    assert not (project_copy / "data" / "run.lock").exists()


def test_only_missing_outputs_redoes_a_broken_output(project_copy: Path) -> None:
    _run(project_copy, "ingestion")
    manifest = project_copy / "data" / "01_raw" / "manifest.json"
    written = manifest.stat().st_mtime_ns
    [cells] = (project_copy / "data" / "03_primary" / "cells.parquet").glob("*/cells.parquet")
    with cells.open("r+b") as stream:  # as an in-place writer killed part-way would leave it
        stream.truncate(cells.stat().st_size // 2)

    _run(project_copy, "ingestion", only_missing_outputs=True)
    versions = sorted((project_copy / "data" / "03_primary" / "cells.parquet").glob("*/cells.parquet"))
    assert len(versions) == 2 and versions[0] == cells
    pq.read_metadata(versions[1])  # the redone table reads
    assert manifest.stat().st_mtime_ns == written  # the intact output was not redone


def test_an_interrupted_campaign_redoes_only_its_missing_units(project_copy: Path) -> None:
    """A campaign killed part-way leaves units without outputs (never started) or with a cut
    file (killed while writing, as an in-place writer would leave it): the same command with
    --only-missing-outputs redoes exactly those units, and the table comes out the same."""
    params = {**TINY_DATA, "campaign": "c1",
              "saa": {"hidden_units": [16] * 7, "pretrain_epochs": 1, "finetune_max_epochs": 4,
                      "batch_size": 64},
              "loocv": {"n_repetitions": 1, "repetitions_per_unit": 1, "members": 1},
              "transfer": {"approaches": "BL DTL_1"}}
    for pipeline in ("ingestion", "psets", "transfer"):
        _run(project_copy, pipeline, params)
    campaign = project_copy / "data" / "07_model_output" / "campaigns" / "c1" / "transfer"
    table1 = project_copy / "data" / "08_reporting" / "table1.csv"
    accuracy = ["Approach", "Transfer", "PS", "PT", ACCURACY, DIFFERENCE]  # not the run times
    before = pd.read_csv(table1)[accuracy]
    written = {unit.name: (unit / "votes.parquet").stat().st_mtime_ns for unit in campaign.iterdir()}
    assert len(written) == 4  # BL and DTL_1, both directions
    never_started, killed, *untouched = sorted(written)
    shutil.rmtree(campaign / never_started)
    votes = campaign / killed / "votes.parquet"
    with votes.open("r+b") as stream:
        stream.truncate(votes.stat().st_size // 2)

    _run(project_copy, "transfer", params, only_missing_outputs=True)
    rewritten = {unit.name for unit in campaign.iterdir()
                 if (unit / "votes.parquet").stat().st_mtime_ns != written.get(unit.name)}
    assert rewritten == {never_started, killed}
    assert all((campaign / name / "votes.parquet").stat().st_mtime_ns == written[name]
               for name in untouched)
    pd.testing.assert_frame_equal(pd.read_csv(table1)[accuracy], before)


WAITING_RUN = """
import sys, time
from pathlib import Path
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
import hca_dtl.settings

project, go_on = Path(sys.argv[1]), Path(sys.argv[2])

class HoldUntilTold:  # holds the run (and its lock) at its first node until the test says so
    @hook_impl
    def before_node_run(self):
        while not go_on.exists():
            time.sleep(0.1)

hca_dtl.settings.HOOKS = (*hca_dtl.settings.HOOKS, HoldUntilTold())
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params={params}) as session:
    session.run(pipeline_names=["ingestion"])
"""


def test_two_processes_second_fails_and_first_finishes(project_copy: Path, tmp_path: Path) -> None:
    go_on, lock = tmp_path / "go_on", project_copy / "data" / "run.lock"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"}  # rich wraps less
    script = textwrap.dedent(WAITING_RUN).replace("{params}", repr(TINY_DATA))
    first = subprocess.Popen([sys.executable, "-c", script, str(project_copy), str(go_on)],
                             cwd=project_copy, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not lock.exists():
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        assert json.loads(lock.read_text())["pid"] == first.pid

        start = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=ingestion"],
                                cwd=project_copy, env=env, capture_output=True, text=True,
                                timeout=300)
        second_seconds = time.monotonic() - start
        assert second.returncode != 0
        said = " ".join((second.stdout + second.stderr).split())
        assert f"Another run is using '{project_copy / 'data'}': PID {first.pid}" in said
        assert json.loads(lock.read_text())["pid"] == first.pid
        print(f"second run failed after {second_seconds:.1f} s")
    finally:
        go_on.touch()
        output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert not lock.exists()
    cells = sorted((project_copy / "data" / "03_primary" / "cells.parquet").glob("*/cells.parquet"))
    assert len(cells) == 1
    assert pq.read_metadata(cells[0]).num_rows > 0


def test_units_of_a_job_array_lock_their_own_folders(tmp_path: Path, live_pid: int) -> None:
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    from hca_dtl.data.lock import RunLock
    from hca_dtl.hooks import RunLockHooks
    from hca_dtl.io import ParquetDataset

    root = tmp_path / "data"
    hooks = RunLockHooks()
    hooks.data_root = root
    units = [root / "07_model_output" / "campaigns" / "c" / "transfer" / f"u{i}" for i in (0, 1)]
    catalog = DataCatalog({f"transfer.u{i}.{t}": ParquetDataset(filepath=str(units[i] / f"{t}.parquet"))
                           for i in (0, 1) for t in ("votes", "runs")})
    nodes = [Node(lambda: (pd.DataFrame(), pd.DataFrame()), None,
                  [f"transfer.u{i}.votes", f"transfer.u{i}.runs"], name=f"u{i}", tags={"unit"})
             for i in (0, 1)]
    scopes = [hooks.lock_scope(Pipeline([n]), catalog) for n in nodes]
    assert scopes == units
    with RunLock(scopes[0]), RunLock(scopes[1]):  # two tasks of an array at once
        pass
    # Several units, or any node that is not a unit, lock the whole data root; so does a unit run
    # with the source bank it reads (written in another folder, though consumed in the same run).
    assert hooks.lock_scope(Pipeline(nodes), catalog) == root
    catalog["sources.bank"] = ParquetDataset(filepath=str(root / "06_models" / "bank.parquet"))
    bank = Node(lambda: pd.DataFrame(), None, "sources.bank", name="bank", tags={"unit"})
    reader = Node(lambda b: (b, b), "sources.bank", ["transfer.u0.votes", "transfer.u0.runs"],
                  name="u0_from_bank", tags={"unit"})
    assert hooks.lock_scope(Pipeline([bank, reader]), catalog) == root
    # A whole-root run in progress stops a unit task at once.
    root.mkdir(parents=True, exist_ok=True)
    _hold_lock(tmp_path, live_pid)
    with pytest.raises(RunLockedError, match=f"PID {live_pid}"):
        hooks.lock_scope(Pipeline(nodes[:1]), catalog)
