"""Bad input gives a clear InputDataError naming the file, table, column or value at fault."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.readers import detect_layout, read_objects
from hca_dtl.data.schema import COMPOUND, InputDataError
from hca_dtl.data.synthetic import write_cellprofiler_csv

from .conftest import TABLES, image_table_files, write_cytominer, write_metadata


def _ingest(tables, tmp_path, **kwargs):
    image, moa = write_metadata(tables, tmp_path / "meta")
    export = write_cytominer({t: tables[t] for t in TABLES if t in tables}, tmp_path / "export.sqlite")
    return ingest_export(export, image_table_files(image, moa), IngestConfig.from_dict(kwargs))


def test_missing_table(tiny_tables, tmp_path):
    del tiny_tables["Nuclei"]
    export = write_cytominer({t: tiny_tables[t] for t in TABLES[:3]}, tmp_path / "no_nuclei.sqlite")
    with pytest.raises(InputDataError, match=r"no_nuclei.sqlite.*tables \['Cells', 'Cytoplasm', 'Image'\]"):
        detect_layout(export)
    with pytest.raises(InputDataError, match=r"lacks the table\(s\) \['Nuclei'\]"):
        list(read_objects(export, "cytominer_sqlite"))


def test_missing_link_column(tiny_tables, tmp_path):
    tiny_tables["Cells"] = tiny_tables["Cells"].drop(columns="Cells_Parent_Nuclei")
    with pytest.raises(InputDataError, match=r"export.sqlite' table Cells lacks the column\(s\) \['Cells_Parent_Nuclei'\]"):
        _ingest(tiny_tables, tmp_path)


def test_duplicated_object_keys(tiny_tables, tmp_path):
    cells = tiny_tables["Cells"]
    tiny_tables["Cells"] = pd.concat([cells, cells.iloc[[5]]], ignore_index=True)
    with pytest.raises(InputDataError, match=r"table Cells repeats the key .*Cells_Number_Object_Number"):
        _ingest(tiny_tables, tmp_path)


def test_duplicated_image_keys(tiny_tables, tmp_path):
    tiny_tables["Image"] = pd.concat([tiny_tables["Image"], tiny_tables["Image"].iloc[[0]]], ignore_index=True)
    with pytest.raises(InputDataError, match=r"table Image repeats the key .*ImageNumber"):
        _ingest(tiny_tables, tmp_path)


def test_cell_without_parent_nucleus(tiny_tables, tmp_path):
    nuclei = tiny_tables["Nuclei"]
    tiny_tables["Nuclei"] = nuclei.drop(index=nuclei.index[3])
    with pytest.raises(InputDataError, match=r"1 cell\(s\) have no parent nucleus in table Nuclei"):
        _ingest(tiny_tables, tmp_path)


def test_text_in_a_feature_column_is_named_with_what_to_do(tiny_tables, tmp_path):
    cells = tiny_tables["Cells"].astype({"Cells_AreaShape_Solidity": object})
    cells.loc[7, "Cells_AreaShape_Solidity"] = "high"
    tiny_tables["Cells"] = cells
    with pytest.raises(InputDataError, match=r"export.sqlite' table Cells column 'Cells_AreaShape_Solidity' holds the "
                                             r"text 'high'.*curation.drop: \[Cells_AreaShape_Solidity\]"):
        _ingest(tiny_tables, tmp_path)
    cells, features, _ = _ingest(tiny_tables, tmp_path,
                                 curation={"drop": ["Cells_AreaShape_Solidity"]})  # the way out the message names
    assert "Cells_AreaShape_Solidity" not in features and len(cells) > 0


def test_compound_missing_from_moa_table_is_reported_and_excluded(tiny_tables, tmp_path):
    compound = tiny_tables["image_csv"].merge(tiny_tables["Image"][["TableNumber", "ImageNumber"]])
    victim = compound.loc[compound.Image_Metadata_Compound != "DMSO", "Image_Metadata_Compound"].iloc[0]
    moa = tiny_tables["moa_csv"]
    tiny_tables["moa_csv"] = moa[moa.compound != victim]
    with pytest.raises(InputDataError, match=rf"(?s)no row in the MOA table .*'{victim}@.*max_unannotated_share"):
        _ingest(tiny_tables, tmp_path)
    cells, _, report = _ingest(tiny_tables, tmp_path, max_unannotated_share=1.0)  # unannotated on purpose
    assert victim not in set(cells[COMPOUND].astype(str))
    assert any(t.startswith(f"{victim}@") for t in report["unannotated_treatments"])
    assert report["counts"]["cells_no_moa"] > 0


def test_empty_database(tmp_path):
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(InputDataError, match=r"empty.sqlite' is not an SQLite database|has tables \[\]"):
        detect_layout(empty)


def test_database_without_images(tiny_tables, tmp_path):
    tables = {t: tiny_tables[t].iloc[:0] for t in TABLES}
    export = write_cytominer(tables, tmp_path / "no_rows.sqlite")
    with pytest.raises(InputDataError, match=r"no_rows.sqlite' table Image is empty"):
        list(read_objects(export))


def test_truncated_and_non_sqlite_files(small_export, tmp_path):
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(small_export["cytominer"].read_bytes()[:50_000])
    with pytest.raises(InputDataError, match=r"truncated.sqlite' is damaged or truncated"):
        list(read_objects(truncated, "cytominer_sqlite"))
    text = tmp_path / "notes.sqlite"
    text.write_text("plate,well\n")
    with pytest.raises(InputDataError, match=r"notes.sqlite' is not an SQLite database"):
        detect_layout(text)


def test_csv_export_with_other_column_order_still_works(tiny_tables, tmp_path):
    folder = write_cellprofiler_csv({t: tiny_tables[t] for t in TABLES}, tmp_path / "csv")
    cells_csv = pd.read_csv(folder / "Cells.csv")
    cells_csv[sorted(cells_csv.columns, reverse=True)].to_csv(folder / "Cells.csv", index=False)
    image, moa = write_metadata(tiny_tables, tmp_path / "meta")
    cells, features, _ = ingest_export(folder, image_table_files(image, moa), IngestConfig())
    assert len(features) == 453 and len(cells) > 0


def test_unknown_layouts(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "Cells.csv").write_text("ImageNumber\n1\n")
    with pytest.raises(InputDataError, match=r"lacks \['Cytoplasm.csv', 'Image.csv', 'Nuclei.csv'\].*accepted"):
        detect_layout(tmp_path / "folder")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE wells (x INTEGER)")
    with pytest.raises(InputDataError, match=r"other.sqlite' has tables \['wells'\]; accepted"):
        detect_layout(other)
    with pytest.raises(InputDataError, match="Unknown layout 'hdf5'"):
        list(read_objects(other, "hdf5"))
    with pytest.raises(InputDataError, match="does not exist"):
        detect_layout(tmp_path / "missing.sqlite")


def test_profiles_without_plate_and_well(tmp_path):
    path = tmp_path / "wells.csv"
    pd.DataFrame({"Cells_AreaShape_Area": [1.0]}).to_csv(path, index=False)
    with pytest.raises(InputDataError, match=r"wells.csv' lacks plate and well columns"):
        list(read_objects(path))
