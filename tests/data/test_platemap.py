"""A lab's own screen: platemaps (and barcode files) instead of BBBC021's image table, identifiers
as text, and joins that account for every cell (issue 19)."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.metadata import normalize_wells
from hca_dtl.data.schema import BATCH, CONTROL_MOA, MOA, PLATE, SITE, WELL, InputDataError
from hca_dtl.data.synthetic import platemap_from_image_table, write_cellprofiler_csv, write_cellprofiler_sqlite

from .conftest import TABLES, image_table_files, write_cytominer, write_metadata

SORT = [PLATE, WELL, SITE, "Cells_AreaShape_Area"]


def _sorted(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.sort_values(SORT).reset_index(drop=True)


def _platemap_files(tmp_path, platemap: pd.DataFrame, moa: pd.DataFrame | None, **kwargs) -> MetadataFiles:
    platemap_csv = tmp_path / "platemap.csv"
    platemap.to_csv(platemap_csv, index=False)
    moa_csv = None
    if moa is not None:
        moa_csv = tmp_path / "moa.csv"
        moa.to_csv(moa_csv, index=False)
    return MetadataFiles(platemap=str(platemap_csv), moa_metadata=None if moa_csv is None else str(moa_csv), **kwargs)


@pytest.fixture(scope="module")
def reference(small_tables, small_export):
    """The small synthetic export ingested the BBBC021 way (image table)."""
    files = image_table_files(small_export["image"], small_export["moa"])
    return ingest_export(small_export["cytominer"], files, IngestConfig())


@pytest.mark.parametrize("layout", ["cytominer", "per_compartment", "per_object", "csv"])
def test_platemap_join_gives_the_image_table_cells_in_every_layout(small_tables, small_export, reference, layout,
                                                                  tmp_path):
    tables = {t: small_tables[t] for t in TABLES}
    export = {
        "cytominer": lambda: small_export["cytominer"],
        "per_compartment": lambda: write_cellprofiler_sqlite(tables, tmp_path / "cp.sqlite"),
        "per_object": lambda: write_cellprofiler_sqlite(tables, tmp_path / "cp.db", single_object_table=True,
                                                       prefix="MyExpt_"),
        "csv": lambda: write_cellprofiler_csv(tables, tmp_path / "csv"),
    }[layout]()
    files = _platemap_files(tmp_path, platemap_from_image_table(small_tables["image_csv"]), small_tables["moa_csv"])
    cells, features, report = ingest_export(export, files, IngestConfig(chunk_images=64))
    assert sorted(features) == sorted(reference[1])  # a Per_Object table orders its columns otherwise
    pd.testing.assert_frame_equal(_sorted(cells)[reference[0].columns], _sorted(reference[0]), check_categorical=False)
    join = report["join"]
    assert join["joined_on"] == [PLATE, WELL] and join["batch_from"].startswith("column 'Metadata_Batch'")
    assert join["cells_read"] == join["cells_matched"] + sum(join["cells_unmatched"].values())
    assert join["cells_unmatched"]["no_metadata_row"] == 0
    assert join["cells_unmatched"]["no_moa"] == reference[2]["join"]["cells_unmatched"]["no_moa"] > 0


def test_wells_are_compared_in_one_form():
    wells = pd.Series(["E6", "E06", "e06", " E06 ", "e6", "AF48", "af048", "r01c01", None])
    assert normalize_wells(wells).tolist() == ["E06"] * 5 + ["AF48", "AF48", "r01c01", None]


def _relabelled(small_tables, plates: dict[str, str], well=lambda w: w) -> dict[str, pd.DataFrame]:
    """The synthetic tables with the Image table's plates renamed and wells rewritten."""
    tables = {t: small_tables[t].copy() for t in TABLES}
    image = tables["Image"]
    image["Image_Metadata_Plate"] = image["Image_Metadata_Plate"].map(plates).fillna(image["Image_Metadata_Plate"])
    image["Image_Metadata_Well"] = image["Image_Metadata_Well"].map(well)
    return tables


def test_plate_001_and_wells_e6_e06_join(small_tables, reference, tmp_path):
    names = sorted(small_tables["Image"]["Image_Metadata_Plate"].unique())
    plates = {name: f"{i:03d}" for i, name in enumerate(names, start=1)}  # 001, 002, ...
    # The export writes E6 (no zero), the platemap e06: both are E06.
    tables = _relabelled(small_tables, plates, well=lambda w: w[0] + str(int(w[1:])))
    platemap = platemap_from_image_table(small_tables["image_csv"])
    platemap["Metadata_Plate"] = platemap["Metadata_Plate"].map(plates)
    platemap["Metadata_Well"] = platemap["Metadata_Well"].str.lower()
    files = _platemap_files(tmp_path, platemap, small_tables["moa_csv"])
    for export in (write_cytominer(tables, tmp_path / "text_plates.sqlite"), write_cellprofiler_csv(tables, tmp_path / "csv")):
        cells, _, report = ingest_export(export, files, IngestConfig())
        assert sorted(cells[PLATE].unique()) == sorted(plates.values()) and "001" in set(cells[PLATE])
        assert report["join"]["cells_unmatched"]["no_metadata_row"] == 0
        assert len(cells) == len(reference[0])
        assert set(cells[WELL]) == set(reference[0][WELL])  # written E06, as both files mean

    # A database storing the plate as the number 1 does not match the platemap's '001': named.
    numbers = {name: int(p) for name, p in plates.items()}
    tables["Image"]["Image_Metadata_Plate"] = small_tables["Image"]["Image_Metadata_Plate"].map(numbers)
    with pytest.raises(InputDataError, match=r"(?s)have no row in the platemap .*Plates written differently.*"
                                             r"\('1', '001'\)"):
        ingest_export(write_cytominer(tables, tmp_path / "number_plates.sqlite"), files, IngestConfig())


def _hashed(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with cytominer-database's MD5 TableNumbers instead of integers."""
    digest = {n: hashlib.md5(str(n).encode()).hexdigest() for n in range(20)}
    return {name: table.assign(TableNumber=table["TableNumber"].map(digest)) for name, table in tables.items()}


def test_hashed_table_numbers_join_by_platemap_and_by_image_table(small_tables, reference, tmp_path):
    tables = _hashed({t: small_tables[t] for t in TABLES})
    export = write_cytominer(tables, tmp_path / "hashed.sqlite")
    files = _platemap_files(tmp_path, platemap_from_image_table(small_tables["image_csv"]), small_tables["moa_csv"])
    by_platemap, _, _ = ingest_export(export, files, IngestConfig())
    pd.testing.assert_frame_equal(_sorted(by_platemap), _sorted(reference[0]), check_categorical=False)

    metadata = _hashed({"image_csv": small_tables["image_csv"]}) | {"moa_csv": small_tables["moa_csv"]}
    image, moa = write_metadata(metadata, tmp_path / "meta")
    by_keys, _, report = ingest_export(export, image_table_files(image, moa), IngestConfig())
    assert report["join"]["joined_on"] == ["TableNumber", "ImageNumber"]
    pd.testing.assert_frame_equal(_sorted(by_keys), _sorted(reference[0]), check_categorical=False)


def test_duplicate_metadata_keys_name_the_lines(small_tables, small_export, tmp_path):
    platemap = platemap_from_image_table(small_tables["image_csv"])
    duplicate = platemap.iloc[[3]].assign(Metadata_Well=lambda f: f["Metadata_Well"].str.replace("0", ""))
    files = _platemap_files(tmp_path, pd.concat([platemap, duplicate], ignore_index=True), small_tables["moa_csv"])
    plate, well = platemap.iloc[3][["Metadata_Plate", "Metadata_Well"]]
    with pytest.raises(InputDataError, match=rf"Platemap '.*platemap.csv' has 1 key\(s\).*'{plate}'.*'{well}'.* "
                                             rf"on lines 5, {len(platemap) + 2}"):
        ingest_export(small_export["cytominer"], files, IngestConfig())
    barcodes = tmp_path / "barcodes.csv"
    barcodes.write_text("Assay_Plate_Barcode,Plate_Map_Name\nP1,A\nP2,A\nP1,B\n")
    with pytest.raises(InputDataError, match=r"Barcode platemap '.*barcodes.csv'.*'P1'.* on lines 2, 4"):
        ingest_export(small_export["cytominer"], MetadataFiles(platemap=files.platemap, barcode_platemap=str(barcodes)),
                      IngestConfig())


def test_unmatched_cells_fail_above_the_threshold_and_are_counted_below(small_tables, small_export, tmp_path):
    platemap = platemap_from_image_table(small_tables["image_csv"])
    counts = (small_tables["Cells"].merge(small_tables["Image"][["TableNumber", "ImageNumber", "Image_Metadata_Plate",
                                                                 "Image_Metadata_Well"]])
              .groupby(["Image_Metadata_Plate", "Image_Metadata_Well"]).size())
    treated = platemap[platemap["Metadata_Compound"] != "DMSO"].set_index(["Metadata_Plate", "Metadata_Well"])
    # One plate's name mistyped in the platemap: all of its cells lose their metadata row.
    plate = platemap["Metadata_Plate"].iloc[0]
    typo = platemap.assign(Metadata_Plate=platemap["Metadata_Plate"].replace(plate, plate.replace("_", "-")))
    files = _platemap_files(tmp_path, typo, small_tables["moa_csv"])
    with pytest.raises(InputDataError) as error:
        ingest_export(small_export["cytominer"], files, IngestConfig())
    message = str(error.value)
    assert str(small_export["cytominer"]) in message and str(tmp_path / "platemap.csv") in message
    assert f"Metadata_Plate='{plate}'" in message  # the export's side
    assert f"Metadata_Plate='{plate.replace('_', '-')}'" in message  # the platemap's side
    assert "max_unmatched_share" in message and "E6 = E06" in message

    # One treated well missing from the platemap: below 1 %, counted, with its key, not an error.
    well = counts.reindex(treated.index).sort_values().loc[lambda c: c > 0].index[0]
    missing = platemap[~((platemap["Metadata_Plate"] == well[0]) & (platemap["Metadata_Well"] == well[1]))]
    cells, _, report = ingest_export(small_export["cytominer"], _platemap_files(tmp_path, missing, small_tables["moa_csv"]),
                                     IngestConfig())
    join = report["join"]
    assert join["cells_unmatched"]["no_metadata_row"] == counts[well] > 0
    assert join["unmatched_share_of_non_control"]["no_metadata_row"] == pytest.approx(
        counts[well] / (join["cells_read"] - join["cells_control"]))
    assert join["examples"]["export_keys_without_metadata_row"] == [
        {PLATE: well[0], WELL: well[1], "cells": int(counts[well])}]
    assert report["counts"]["cells_read"] == (report["counts"]["cells_kept"] + report["counts"]["cells_dropped_nan"]
                                              + join["cells_unmatched"]["no_metadata_row"] + join["cells_unmatched"]["no_moa"])
    with pytest.raises(InputDataError, match="max_unmatched_share"):
        ingest_export(small_export["cytominer"], _platemap_files(tmp_path, missing, small_tables["moa_csv"]),
                      IngestConfig(max_unmatched_share=0.0))


def test_barcode_platemap_and_batch_defaults_to_the_plate(small_tables, reference, small_export, tmp_path):
    platemap = platemap_from_image_table(small_tables["image_csv"]).drop(columns="Metadata_Batch")
    names = {p: f"layout_{i}" for i, p in enumerate(sorted(platemap["Metadata_Plate"].unique()))}
    platemap = platemap.assign(Metadata_Plate_Map_Name=platemap.pop("Metadata_Plate").map(names))
    barcodes = tmp_path / "barcode_platemap.csv"
    pd.DataFrame({"Assay_Plate_Barcode": list(names), "Plate_Map_Name": list(names.values())}).to_csv(barcodes, index=False)
    files = _platemap_files(tmp_path, platemap, small_tables["moa_csv"], barcode_platemap=str(barcodes))
    cells, _, report = ingest_export(small_export["cytominer"], files, IngestConfig())
    assert (cells[BATCH].astype(str) == cells[PLATE].astype(str)).all()
    assert "NSCB then holds out" in report["join"]["batch_from"]
    expected = _sorted(reference[0]).assign(**{BATCH: lambda c: pd.Categorical(c[PLATE].astype(str))})
    pd.testing.assert_frame_equal(_sorted(cells), expected, check_categorical=False)
    assert report["join"]["metadata"].endswith(f"with barcode file '{barcodes}'")


def test_configured_column_names_and_missing_ones(small_tables, small_export, reference, tmp_path):
    platemap = platemap_from_image_table(small_tables["image_csv"]).rename(columns={
        "Metadata_Plate": "plate", "Metadata_Well": "well_position", "Metadata_Compound": "broad_sample",
        "Metadata_Concentration": "mmoles_per_liter"})
    files = _platemap_files(tmp_path, platemap, small_tables["moa_csv"])
    with pytest.raises(InputDataError, match=r"Platemap '.*platemap.csv' lacks the column\(s\) \['Metadata_Plate', "
                                             r"'Metadata_Well'.*data_source.files.columns.platemap"):
        ingest_export(small_export["cytominer"], files, IngestConfig())
    columns = {"platemap": {"plate": "plate", "well": "well_position", "compound": "broad_sample",
                            "concentration": "mmoles_per_liter"}}
    files = MetadataFiles.from_dict({"platemap": files.platemap, "moa_metadata": files.moa_metadata, "columns": columns})
    cells, _, _ = ingest_export(small_export["cytominer"], files, IngestConfig())
    pd.testing.assert_frame_equal(_sorted(cells), _sorted(reference[0]), check_categorical=False)


def test_text_missing_values_in_feature_columns(tiny_tables, tmp_path):
    cells = tiny_tables["Cells"].astype({"Cells_AreaShape_Solidity": object, "Cells_AreaShape_Extent": object})
    markers = ["nan", "NaN", "", "inf", "-inf", " NA "]
    cells.loc[[3, 5, 8, 13, 21, 34], "Cells_AreaShape_Solidity"] = markers
    cells.loc[55, "Cells_AreaShape_Extent"] = "Infinity"
    tiny_tables["Cells"] = cells
    image, moa = write_metadata(tiny_tables, tmp_path / "meta")
    export = write_cytominer({t: tiny_tables[t] for t in TABLES}, tmp_path / "text.sqlite")
    with sqlite3.connect(export) as con:  # a TEXT column, as a lab's pipeline that wrote 'nan' made it
        assert con.execute("SELECT COUNT(*) FROM Cells WHERE typeof(Cells_AreaShape_Solidity) = 'text'").fetchone()[0] \
            == len(cells)
    files = image_table_files(image, moa)
    imputed, features, report = ingest_export(export, files, IngestConfig(nan_policy="impute_median",
                                                                          max_unannotated_share=1.0))
    assert "Cells_AreaShape_Solidity" in features and np.isfinite(imputed[features].to_numpy()).all()
    assert report["counts"]["values_imputed"] >= 7
    dropped, _, report = ingest_export(export, files, IngestConfig(max_unannotated_share=1.0))
    assert report["counts"]["cells_dropped_nan"] >= 7 and len(dropped) == len(imputed) - report["counts"]["cells_dropped_nan"]


def test_real_cytominer_export_with_a_platemap(shared_data, tmp_path):
    """The real per-cell database (hashed TableNumber, two images of well A01 of plate SQ00014613)."""
    export = shared_data / "cellprofiler" / "cytominer_database_SQ00014613.sqlite"
    moa = pd.DataFrame({"compound": ["cpd_a"], "concentration": [1.0], "moa": ["Kinase inhibitors"]})
    platemap = pd.DataFrame({"Metadata_Plate": ["SQ00014613", "SQ00014613"], "Metadata_Well": ["A1", "A2"],
                             "Metadata_Compound": ["cpd_a", "DMSO"], "Metadata_Concentration": [1.0, None]})
    cells, features, report = ingest_export(export, _platemap_files(tmp_path, platemap, moa), IngestConfig())
    assert len(cells) == 2 and set(cells[MOA]) == {"Kinase inhibitors"} and set(cells[WELL]) == {"A01"}
    assert report["join"]["cells_matched"] == report["join"]["cells_read"] == 2
    assert report["join"]["examples"]["metadata_rows_without_cells"] == [{PLATE: "SQ00014613", WELL: "A02"}]
    assert report["curation_rows"].startswith("all rows (the export has no control rows")
    platemap["Metadata_Compound"] = ["DMSO", "DMSO"]
    cells, _, report = ingest_export(export, _platemap_files(tmp_path, platemap, moa), IngestConfig())
    assert set(cells[MOA]) == {CONTROL_MOA} and report["curation_rows"] == "the 2 control rows"

    platemap["Metadata_Plate"] = "SQ00014614"
    with pytest.raises(InputDataError, match=r"(?s)2 of 2 non-control cells of '.*SQ00014613.sqlite'.*platemap "
                                             r"'.*platemap.csv'.*Metadata_Plate='SQ00014613'.*Metadata_Plate='SQ00014614'"):
        ingest_export(export, _platemap_files(tmp_path, platemap, moa), IngestConfig())


def test_real_well_profiles_with_a_platemap(shared_data, tmp_path):
    folder = shared_data / "bbbc021"
    export = folder / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"
    reference, features, _ = ingest_export(
        export, image_table_files(folder / "BBBC021_v1_image.csv.gz", folder / "BBBC021_v1_moa.csv"), IngestConfig())
    platemap = platemap_from_image_table(pd.read_csv(folder / "BBBC021_v1_image.csv.gz"))
    files = MetadataFiles(platemap=str(tmp_path / "platemap.csv"), moa_metadata=str(folder / "BBBC021_v1_moa.csv"))
    platemap.to_csv(files.platemap, index=False)
    cells, platemap_features, report = ingest_export(export, files, IngestConfig())
    assert platemap_features == features and report["join"]["cells_read"] == report["join"]["cells_matched"] == 632
    sort = [PLATE, WELL]
    pd.testing.assert_frame_equal(cells.sort_values(sort).reset_index(drop=True),
                                  reference.sort_values(sort).reset_index(drop=True), check_categorical=False)
