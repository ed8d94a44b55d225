"""BBBC021 metadata reader: the real files, and small hand-made ones for the error paths."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from hca_dtl.data.metadata import batch_sort_key, read_bbbc021_metadata, treatment_table
from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    CONCENTRATION,
    MOA,
    PLATE,
    SITE,
    TREATMENT,
    WELL,
    InputDataError,
)

BBBC021 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bbbc021"
IMAGE_CSV = BBBC021 / "BBBC021_v1_image.csv.gz"
MOA_CSV = BBBC021 / "BBBC021_v1_moa.csv"


@pytest.fixture(scope="module")
def real_metadata() -> pd.DataFrame:
    if not (IMAGE_CSV.is_file() and MOA_CSV.is_file()):
        pytest.skip(f"real BBBC021 metadata not found in {BBBC021.resolve()} (../shared/data)")
    return read_bbbc021_metadata(IMAGE_CSV, MOA_CSV)


def _image_row(table, image, well, site, week, compound, concentration, plate="27481"):
    return {
        "TableNumber": table,
        "ImageNumber": image,
        "Image_FileName_DAPI": f"{well}_s{site}_w1ABC.tif",
        "Image_PathName_DAPI": f"{week}/{week}_{plate}",
        "Image_FileName_Tubulin": f"{well}_s{site}_w2ABC.tif",
        "Image_PathName_Tubulin": f"{week}/{week}_{plate}",
        "Image_FileName_Actin": f"{well}_s{site}_w4ABC.tif",
        "Image_PathName_Actin": f"{week}/{week}_{plate}",
        "Image_Metadata_Plate_DAPI": f"{week}_{plate}",
        "Image_Metadata_Well_DAPI": well,
        "Replicate": 1,
        "Image_Metadata_Compound": compound,
        "Image_Metadata_Concentration": concentration,
    }


@pytest.fixture
def small_files(tmp_path: Path) -> tuple[Path, Path]:
    """Five images: taxol at 0.3 µM (written as a float with noise), DMSO, and an unannotated drug."""
    rows = [
        _image_row(1, 1, "B02", 1, "Week10", "taxol", 0.3000000001),
        _image_row(1, 2, "B02", 2, "Week10", "taxol", 0.3000000001),
        _image_row(1, 3, "C05", 1, "Week10", "DMSO", 0.0),
        _image_row(2, 1, "D07", 3, "Week2", "mystery", 1.0, plate="11111"),
        _image_row(2, 2, "E08", 4, "Week2", "taxol", 0.3, plate="11111"),
    ]
    image_csv = tmp_path / "image.csv"
    pd.DataFrame(rows).to_csv(image_csv, index=False)
    moa_csv = tmp_path / "moa.csv"
    moa_csv.write_text(
        '"compound",concentration,"moa"\n'
        '"taxol",0.300000,"Microtubule stabilizers"\n'
        '"DMSO",0.000000,"DMSO"\n'
    )
    return image_csv, moa_csv


def test_real_metadata_counts(real_metadata: pd.DataFrame) -> None:
    n_images = len(real_metadata) + real_metadata.attrs["n_unannotated_images"]
    assert n_images == 13_200
    annotated = real_metadata[real_metadata[MOA] != "DMSO"]
    assert annotated[COMPOUND].nunique() == 38
    assert annotated[TREATMENT].nunique() == 103
    assert annotated[MOA].nunique() == 12
    weeks = sorted(real_metadata[BATCH].unique(), key=batch_sort_key)
    assert weeks == [f"Week{i}" for i in range(1, 11)]
    assert set(real_metadata[SITE]) == {1, 2, 3, 4}
    assert not real_metadata.duplicated(["TableNumber", "ImageNumber"]).any()
    assert set(real_metadata["TableNumber"]) == {str(i) for i in range(10)}  # identifiers are text
    assert real_metadata["ImageNumber"].dtype == "int64"
    assert real_metadata[CONCENTRATION].dtype == "float64"
    dropped = real_metadata.attrs["unannotated_treatments"]
    assert dropped == sorted(dropped) and not set(dropped) & set(real_metadata[TREATMENT])


def test_real_treatment_is_joined(real_metadata: pd.DataFrame) -> None:
    taxol = real_metadata[real_metadata[TREATMENT] == "taxol@0.3"]
    assert len(taxol) > 0 and (taxol[MOA] == "Microtubule stabilizers").all()
    assert all(plate.startswith(f"{week}_") for plate, week in zip(taxol[PLATE], taxol[BATCH]))


def test_real_treatment_table(real_metadata: pd.DataFrame) -> None:
    table = treatment_table(real_metadata)
    assert len(table) == 103 and table[TREATMENT].is_unique
    assert "DMSO" not in set(table[MOA])
    assert table[COMPOUND].nunique() == 38
    assert (table["n_images"] >= table["n_wells"]).all() and (table["n_wells"] > 0).all()
    assert all(b == sorted(b, key=batch_sort_key) and b for b in table["batches"])


def test_small_files_join_site_batch_and_drop(small_files, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="hca_dtl.data.metadata"):
        metadata = read_bbbc021_metadata(*small_files)
    assert metadata.attrs["unannotated_treatments"] == ["mystery@1"]
    assert metadata.attrs["n_unannotated_images"] == 1
    assert "mystery@1" in caplog.text
    assert list(metadata["ImageNumber"]) == [1, 2, 3, 2]
    assert list(metadata[TREATMENT]) == ["taxol@0.3", "taxol@0.3", "DMSO@0", "taxol@0.3"]
    assert list(metadata[MOA]) == ["Microtubule stabilizers"] * 2 + ["DMSO", "Microtubule stabilizers"]
    assert list(metadata[SITE]) == [1, 2, 1, 4]
    assert list(metadata[BATCH]) == ["Week10", "Week10", "Week10", "Week2"]
    assert list(metadata[WELL]) == ["B02", "B02", "C05", "E08"]
    assert metadata[CONCENTRATION].iloc[0] == pytest.approx(0.3)

    table = treatment_table(metadata)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["batches"] == ["Week2", "Week10"]
    assert (row["n_images"], row["n_wells"]) == (3, 2)
    per_well = treatment_table(metadata.drop(columns=[SITE]))
    assert (per_well.iloc[0]["n_images"], per_well.iloc[0]["n_wells"]) == (2, 2)
    with pytest.raises(InputDataError, match="Metadata_Batch"):
        treatment_table(metadata.drop(columns=[BATCH]))


def test_missing_file_names_path(tmp_path: Path, small_files) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(InputDataError, match="nowhere.csv"):
        read_bbbc021_metadata(missing, small_files[1])
    with pytest.raises(InputDataError, match="nowhere.csv"):
        read_bbbc021_metadata(small_files[0], missing)


def test_missing_image_columns_named(small_files) -> None:
    image_csv, moa_csv = small_files
    images = pd.read_csv(image_csv).drop(columns=["Image_FileName_Tubulin", "Image_PathName_Actin", "Replicate"])
    images.to_csv(image_csv, index=False)
    assert len(read_bbbc021_metadata(image_csv, moa_csv)) == 4  # the unused channels and replicate are not needed
    images.drop(columns=["Image_PathName_DAPI", "Image_Metadata_Well_DAPI"]).to_csv(image_csv, index=False)
    with pytest.raises(InputDataError, match=r"image\.csv.*Image_PathName_DAPI.*Image_Metadata_Well_DAPI"):
        read_bbbc021_metadata(image_csv, moa_csv)


def test_missing_moa_columns_named(small_files) -> None:
    image_csv, moa_csv = small_files
    moa_csv.write_text("compound,dose,moa\ntaxol,0.3,x\n")
    with pytest.raises(InputDataError, match=r"moa\.csv.*concentration"):
        read_bbbc021_metadata(image_csv, moa_csv)


def test_duplicate_image_key_named(small_files) -> None:
    image_csv, moa_csv = small_files
    images = pd.read_csv(image_csv)
    images.loc[4, ["TableNumber", "ImageNumber"]] = [1, 2]
    images.to_csv(image_csv, index=False)
    with pytest.raises(InputDataError, match=r"image\.csv.*'TableNumber': '1', 'ImageNumber': 2\} on lines 3, 6"):
        read_bbbc021_metadata(image_csv, moa_csv)


def test_duplicate_moa_row_and_bad_values(small_files) -> None:
    image_csv, moa_csv = small_files
    moa_csv.write_text('compound,concentration,moa\ntaxol,0.3,A\ntaxol,0.30000001,B\n')
    with pytest.raises(InputDataError, match="taxol@0.3.* on lines 2, 3"):
        read_bbbc021_metadata(image_csv, moa_csv)
    moa_csv.write_text("compound,concentration,moa\ntaxol,lots,A\n")
    with pytest.raises(InputDataError, match="'lots'"):
        read_bbbc021_metadata(image_csv, moa_csv)


def test_unparsable_site_named(small_files) -> None:
    image_csv, moa_csv = small_files
    images = pd.read_csv(image_csv)
    images.loc[0, "Image_FileName_DAPI"] = "B02_w1.tif"
    images.to_csv(image_csv, index=False)
    with pytest.raises(InputDataError, match="B02_w1.tif"):
        read_bbbc021_metadata(image_csv, moa_csv)


def test_batch_sort_key_is_natural() -> None:
    assert sorted(["Week10", "Week2", "Week1"], key=batch_sort_key) == ["Week1", "Week2", "Week10"]
