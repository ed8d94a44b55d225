"""The synthetic BBBC021 generator: structure, determinism, file format, difficulty."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from hca_dtl.data import synthetic
from hca_dtl.data.curation import CurationConfig, select_features
from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.metadata import read_bbbc021_metadata
from hca_dtl.data.schema import COMPARTMENTS, CONTROL_MOA, MOA
from hca_dtl.data.synthetic import SyntheticConfig, synthetic_tables, write_synthetic_bbbc021

from .conftest import SMALL

PSET1 = {"Actin disruptors", "DNA replication", "Epithelial", "Kinase inhibitors",
         "Microtubule stabilizers", "Protein degradation"}
REAL_MOAS = {
    "Actin disruptors", "Aurora kinase inhibitors", "Cholesterol-lowering", "DNA damage", "DNA replication",
    "Eg5 inhibitors", "Epithelial", "Kinase inhibitors", "Microtubule destabilizers",
    "Microtubule stabilizers", "Protein degradation", "Protein synthesis",
}


def test_design_matches_bbbc021_counts():
    treatments = synthetic.compound_table()
    assert set(treatments.moa) == REAL_MOAS
    assert treatments.compound.nunique() == 38 and len(treatments) == 103
    pset1 = treatments[treatments.moa.isin(PSET1)]
    pset2 = treatments[~treatments.moa.isin(PSET1)]
    assert (pset1.compound.nunique(), len(pset1)) == (20, 42)
    assert (pset2.compound.nunique(), len(pset2)) == (18, 61)


def test_real_moa_table_has_the_hard_coded_counts(shared_data):
    real = pd.read_csv(shared_data / "bbbc021" / "BBBC021_v1_moa.csv")
    real = real[real.moa != CONTROL_MOA]
    ours = synthetic.compound_table()
    for counts in (lambda t: t.groupby("moa").compound.nunique(), lambda t: t.groupby("moa").size()):
        pd.testing.assert_series_equal(counts(real), counts(ours))


def test_tables_have_the_cytominer_shape(small_tables):
    image, cells = small_tables["Image"], small_tables["Cells"]
    assert {"TableNumber", "ImageNumber", "Image_Metadata_Plate", "Image_Count_Cells"} <= set(image.columns)
    for comp in COMPARTMENTS:
        table = small_tables[comp]
        assert list(table.columns[:3]) == ["TableNumber", "ImageNumber", "ObjectNumber"]
        assert f"{comp}_Number_Object_Number" in table.columns
        assert f"{comp}_Location_Center_X" in table.columns and f"{comp}_AreaShape_Center_X" in table.columns
        assert len(table) == len(cells)
    assert {"Cells_Parent_Nuclei", "Cytoplasm_Parent_Cells", "Cytoplasm_Parent_Nuclei",
            "Nuclei_Children_Cells_Count", "Cells_Neighbors_FirstClosestObjectNumber_Adjacent"} <= (
        set(cells.columns) | set(small_tables["Cytoplasm"].columns) | set(small_tables["Nuclei"].columns))
    assert not image.duplicated(["TableNumber", "ImageNumber"]).any()
    assert image.Image_Count_Cells.sum() == len(cells)
    assert sum(len(v) for v in synthetic.feature_families().values()) == 453


def test_plate_layout_and_cell_counts(small_tables):
    meta = small_tables["image_csv"].merge(
        small_tables["moa_csv"], left_on=["Image_Metadata_Compound", "Image_Metadata_Concentration"],
        right_on=["compound", "concentration"], how="left")
    weeks = meta.Image_PathName_DAPI.str.split("/").str[0]
    assert set(weeks) == {f"Week{i}" for i in range(1, 11)}
    wells = meta.drop_duplicates(["Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI"])
    assert wells.groupby(["compound", "concentration"]).size().drop(("DMSO", 0.0)).eq(3).all()
    dmso = wells[wells.moa == CONTROL_MOA].groupby("Image_Metadata_Plate_DAPI").size()
    assert dmso.index.nunique() == wells.Image_Metadata_Plate_DAPI.nunique() and dmso.eq(SMALL.n_control_wells).all()
    assert meta.groupby(["Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI"]).size().eq(4).all()
    counts = small_tables["Image"].merge(small_tables["image_csv"], on=["TableNumber", "ImageNumber"])
    annotated = counts.Image_Metadata_Compound.isin(synthetic.compound_table().compound)
    assert counts.loc[annotated, "Image_Count_Cells"].sum() == SMALL.n_cells
    control = counts.Image_Metadata_Compound.eq("DMSO")
    share = counts.loc[control, "Image_Count_Cells"].sum() / counts.loc[annotated | control, "Image_Count_Cells"].sum()
    assert share == pytest.approx(SMALL.control_fraction, abs=0.01)
    # the third microtubule stabilizer is imaged in several weeks, like taxol
    stabilizer = meta[meta.compound == "microtubule_stabilizers_3"]
    assert stabilizer.Image_PathName_DAPI.str.split("/").str[0].nunique() >= 5


def test_same_seed_same_tables_other_seed_differs():
    config = SyntheticConfig(seed=11, n_cells=300)
    first, again = synthetic_tables(config), synthetic_tables(config)
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    other = synthetic_tables(SyntheticConfig(seed=12, n_cells=300))
    assert not first["Cells"]["Cells_AreaShape_Area"].equals(other["Cells"]["Cells_AreaShape_Area"])


def test_default_curation_keeps_453_features(small_tables):
    cells = small_tables["Cells"].merge(small_tables["Nuclei"], on=["TableNumber", "ImageNumber", "ObjectNumber"])
    cells = cells.merge(small_tables["Cytoplasm"], on=["TableNumber", "ImageNumber", "ObjectNumber"])
    kept = select_features(list(cells.columns), cells, CurationConfig())
    assert len(kept) == 453
    assert set(kept) == {f for names in synthetic.feature_families().values() for f in names}


def test_manifest_and_files(tmp_path):
    config = SyntheticConfig(seed=1, n_cells=200)
    manifest = write_synthetic_bbbc021(tmp_path, config)
    assert json.loads(json.dumps(manifest)) == manifest
    assert manifest["synthetic"] is True and manifest["layout"] == "cytominer_sqlite"
    assert "SYNTHETIC" in manifest["description"] and "seed=1" in manifest["description"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "BBBC021_v1_image.csv", "BBBC021_v1_moa.csv", "synthetic_bbbc021.sqlite"]
    with sqlite3.connect(manifest["export"]) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        n_cells = con.execute("SELECT COUNT(*) FROM Cells").fetchone()[0]
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert tables == {"Image", "Cells", "Cytoplasm", "Nuclei"}
    assert "table_image_object_cells_idx" in indexes
    metadata = read_bbbc021_metadata(manifest["image_metadata"], manifest["moa_metadata"])
    assert metadata.attrs["unannotated_treatments"] == ["unannotated_1@1"]
    assert metadata[MOA].nunique() == 13 and n_cells > config.n_cells
    real_header = "TableNumber,ImageNumber,Image_FileName_DAPI,Image_PathName_DAPI"
    assert (tmp_path / "BBBC021_v1_image.csv").read_text().startswith(real_header)
    assert (tmp_path / "BBBC021_v1_moa.csv").read_text().startswith('"compound","concentration","moa"')


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_compartment_tables", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_synthetic_bbbc021(tmp_path, SyntheticConfig(n_cells=100))
    assert list(tmp_path.iterdir()) == []


def test_config_from_dict():
    assert SyntheticConfig.from_dict({"seed": 3, "n_cells": 10}) == SyntheticConfig(seed=3, n_cells=10)
    with pytest.raises(ValueError, match="n_cell"):
        SyntheticConfig.from_dict({"n_cell": 10})
    with pytest.raises(ValueError, match="control_fraction"):
        SyntheticConfig(control_fraction=1.0)


def test_per_cell_classifier_is_above_chance_but_not_perfect(tmp_path):
    manifest = write_synthetic_bbbc021(tmp_path, SyntheticConfig(seed=5, n_cells=4000))
    cells, features, _ = ingest_export(manifest["export"], MetadataFiles.from_dict(manifest), IngestConfig())
    cells = cells[cells[MOA] != CONTROL_MOA]
    x = cells[features].to_numpy(np.float64)
    x = np.sign(x) * np.log1p(np.abs(x))
    y = cells[MOA].astype(str).to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=200, C=0.1).fit(scaler.transform(x_train), y_train)
    accuracy = model.score(scaler.transform(x_test), y_test)
    chance = pd.Series(y_test).value_counts(normalize=True).max()  # majority class
    assert chance + 0.2 < accuracy < 0.9
