"""Small synthetic BBBC021 exports in every layout, and helpers to write broken ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.synthetic import SyntheticConfig, synthetic_tables, write_sqlite

SMALL = SyntheticConfig(seed=7, n_cells=1500)
TABLES = ("Image", "Cells", "Cytoplasm", "Nuclei")


def write_cytominer(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """Writes the given ``{name: table}`` as they are into a new SQLite file."""
    write_sqlite(iter([dict(tables)]), path, {})
    return path


def write_metadata(tables: dict[str, pd.DataFrame], folder: Path) -> tuple[Path, Path]:
    """Writes the BBBC021 image and MOA metadata CSVs; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    image, moa = folder / "BBBC021_v1_image.csv", folder / "BBBC021_v1_moa.csv"
    tables["image_csv"].to_csv(image, index=False)
    tables["moa_csv"].to_csv(moa, index=False)
    return image, moa


def image_table_files(image: Path, moa: Path | None, **kwargs) -> MetadataFiles:
    """The BBBC021 way: an image table and (optionally) an MOA table."""
    return MetadataFiles(image_metadata=str(image), moa_metadata=None if moa is None else str(moa), **kwargs)


@pytest.fixture(scope="session")
def small_tables() -> dict[str, pd.DataFrame]:
    """The small synthetic set in memory: cytominer tables + ``image_csv`` / ``moa_csv``."""
    return synthetic_tables(SMALL)


@pytest.fixture(scope="session")
def small_export(small_tables, tmp_path_factory) -> dict[str, Path]:
    """The small set on disk: ``cytominer`` SQLite and the metadata CSVs ``image`` and ``moa``."""
    folder = tmp_path_factory.mktemp("small_export")
    image, moa = write_metadata(small_tables, folder)
    export = write_cytominer({t: small_tables[t] for t in TABLES}, folder / "cytominer.sqlite")
    return {"cytominer": export, "image": image, "moa": moa, "folder": folder}


@pytest.fixture
def tiny_tables(small_tables) -> dict[str, pd.DataFrame]:
    """A copy of the first two synthetic plates' images (a few hundred cells), to break."""
    image = small_tables["Image"]
    plates = image["Image_Metadata_Plate"].drop_duplicates().iloc[:2]
    keep = image[image["Image_Metadata_Plate"].isin(plates)][["TableNumber", "ImageNumber"]]
    out = {"Image": image.merge(keep)}
    for name in TABLES[1:]:
        out[name] = small_tables[name].merge(keep)
    out["image_csv"], out["moa_csv"] = small_tables["image_csv"].copy(), small_tables["moa_csv"].copy()
    return out
