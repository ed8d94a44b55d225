"""Readers: layout detection and one row per cell from every layout."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.readers import detect_layout, read_images, read_objects, read_profiles
from hca_dtl.data.schema import InputDataError
from hca_dtl.data.synthetic import write_cellprofiler_csv, write_cellprofiler_sqlite

from .conftest import TABLES

SORT = ["Image_Metadata_Plate", "Image_Metadata_Well", "Image_Metadata_Site", "Cells_Number_Object_Number"]


def _located(path, layout=None, chunk_images=250) -> pd.DataFrame:
    """All cells of an export with their image's plate/well/site, sorted (layout-independent)."""
    cells = pd.concat(list(read_objects(path, layout, chunk_images=chunk_images)), ignore_index=True)
    keys = [k for k in ("TableNumber", "ImageNumber") if k in cells.columns]
    images = read_images(path, layout)[keys + SORT[:3]]
    images[SORT[2]] = images[SORT[2]].astype(int)  # a CSV's Image table is read as text
    located = cells.merge(images, on=keys)
    return located.drop(columns=keys).sort_values(SORT).reset_index(drop=True)


@pytest.fixture(scope="module")
def exports(small_tables, small_export, tmp_path_factory):
    folder = tmp_path_factory.mktemp("layouts")
    tables = {t: small_tables[t] for t in TABLES}
    return {
        "cytominer": small_export["cytominer"],
        "per_compartment": write_cellprofiler_sqlite(tables, folder / "cp.sqlite"),
        "per_object": write_cellprofiler_sqlite(tables, folder / "cp_object.db", single_object_table=True,
                                                prefix="MyExpt_"),
        "csv": write_cellprofiler_csv(tables, folder / "csv"),
    }


def test_detect_layout(exports, tmp_path):
    assert detect_layout(exports["cytominer"]) == "cytominer_sqlite"
    assert detect_layout(exports["per_compartment"]) == "cellprofiler_sqlite"
    assert detect_layout(exports["per_object"]) == "cellprofiler_sqlite"
    assert detect_layout(exports["csv"]) == "cellprofiler_csv"
    (tmp_path / "wells.parquet").touch()
    assert detect_layout(tmp_path / "wells.parquet") == "profiles"


def test_cytominer_reader_gives_one_row_per_cell(small_tables, small_export):
    chunks = list(read_objects(small_export["cytominer"], chunk_images=100))
    cells = pd.concat(chunks, ignore_index=True)
    assert len(chunks) > 1 and len(cells) == len(small_tables["Cells"])
    assert {"TableNumber", "ImageNumber"} <= set(cells.columns)
    assert "ObjectNumber" not in cells.columns
    n_columns = sum(small_tables[t].shape[1] - 3 for t in TABLES[1:])
    assert cells.shape[1] == 2 + n_columns
    # each cell's nucleus and cytoplasm are its own (CellProfiler's links)
    np.testing.assert_array_equal(cells.Cells_Parent_Nuclei, cells.Nuclei_Number_Object_Number)
    np.testing.assert_array_equal(cells.Cytoplasm_Parent_Cells, cells.Cells_Number_Object_Number)
    whole = pd.concat(list(read_objects(small_export["cytominer"], chunk_images=10_000)), ignore_index=True)
    pd.testing.assert_frame_equal(cells, whole)


@pytest.mark.parametrize("layout", ["per_compartment", "per_object", "csv"])
def test_cellprofiler_layouts_read_the_same_cells(exports, layout):
    reference = _located(exports["cytominer"])
    other = _located(exports[layout], chunk_images=37)
    other = other[reference.columns]  # CSVs and the single object table order columns differently
    pd.testing.assert_frame_equal(reference, other, check_dtype=False, check_exact=False, rtol=1e-9)


def test_csv_with_other_column_order(exports, tmp_path):
    for name in ("Image", "Cells", "Cytoplasm", "Nuclei"):
        table = pd.read_csv(exports["csv"] / f"{name}.csv")
        table[table.columns[::-1]].to_csv(tmp_path / f"{name}.csv", index=False)
    pd.testing.assert_frame_equal(_located(exports["csv"]), _located(tmp_path)[_located(exports["csv"]).columns])


def test_csv_with_cellprofilers_default_file_prefix(exports, tmp_path):
    """ExportToSpreadsheet names its files MyExpt_Image.csv … by default; two exports in one
    folder are refused, naming both prefixes."""
    for name in ("Image", "Cells", "Cytoplasm", "Nuclei"):
        shutil.copy(exports["csv"] / f"{name}.csv", tmp_path / f"MyExpt_{name}.csv")
    assert detect_layout(tmp_path) == "cellprofiler_csv"
    pd.testing.assert_frame_equal(_located(exports["csv"]), _located(tmp_path))
    assert read_images(tmp_path)["ImageNumber"].tolist() == read_images(exports["csv"])["ImageNumber"].tolist()
    for name in ("Image", "Cells", "Cytoplasm", "Nuclei"):
        shutil.copy(exports["csv"] / f"{name}.csv", tmp_path / f"{name}.csv")
    with pytest.raises(InputDataError, match=r"several exports \(file prefixes \['', 'MyExpt_'\]"):
        detect_layout(tmp_path)


def test_reads_the_real_cytominer_database(shared_data):
    path = shared_data / "cellprofiler" / "cytominer_database_SQ00014613.sqlite"
    assert detect_layout(path) == "cytominer_sqlite"
    cells = pd.concat(list(read_objects(path)), ignore_index=True)
    assert len(cells) == 2
    assert {"Cells_AreaShape_Area", "Nuclei_AreaShape_Area", "Cytoplasm_AreaShape_Area"} <= set(cells.columns)
    assert cells.shape[1] == 2 + (599 - 3) + (585 - 3) + (608 - 3)
    images = read_images(path)
    assert list(images.Image_Metadata_Site) == [1, 2]


def test_reads_the_real_profiles(shared_data):
    path = shared_data / "bbbc021" / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"
    assert detect_layout(path) == "profiles"
    profiles = read_profiles(path)
    assert profiles.shape == (632, 518)
    chunks = list(read_objects(path, chunk_images=200))
    assert [len(c) for c in chunks] == [200, 200, 200, 32]
