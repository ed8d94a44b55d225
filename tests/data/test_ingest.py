"""Ingestion: the cells table, its report, curation on the controls and the real per-well profiles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.curation import CurationConfig
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.normalize import MAD_TO_SD, NormalizationSpec, fit_normalizer
from hca_dtl.data.schema import (
    COMPOUND, CONCENTRATION, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, SITE, TREATMENT, UNKNOWN_MOA, WELL,
    InputDataError, feature_columns,
)
from hca_dtl.data.synthetic import write_cellprofiler_csv, write_cellprofiler_sqlite

from .conftest import SMALL, TABLES, image_table_files


def _files(small_export, moa=True, **kwargs):
    return image_table_files(small_export["image"], small_export["moa"] if moa else None, **kwargs)


def _normalised(small_export, method, whitening="none", epsilon=1.0, nan_policy="impute_median"):
    cells, features, report = ingest_export(small_export["cytominer"], _files(small_export),
                                            IngestConfig(nan_policy=nan_policy))
    return fit_normalizer(cells, features, NormalizationSpec(method, whitening, epsilon)).transform(cells), features, report


@pytest.fixture(scope="module")
def ingested(small_export):
    return ingest_export(small_export["cytominer"], _files(small_export), IngestConfig())


def test_cells_table_and_report(ingested, small_tables):
    cells, features, report = ingested
    assert list(cells.columns) == [*METADATA_COLUMNS, *features] and len(features) == 453
    assert feature_columns(cells.columns) == features
    assert all(cells[f].dtype == np.float32 for f in features)
    assert all(isinstance(cells[c].dtype, pd.CategoricalDtype) for c in (PLATE, WELL, COMPOUND, TREATMENT, MOA))
    assert cells[SITE].dtype == np.int16 and cells[CONCENTRATION].dtype == np.float32
    assert np.isfinite(cells[features].to_numpy()).all()
    counts = report["counts"]
    assert json.loads(json.dumps(report)) == report
    assert (counts["treatments"], counts["compounds"], counts["moas"]) == (103, 38, 12)
    assert report["unannotated_treatments"] == ["unannotated_1@1"]
    assert counts["cells_read"] == len(small_tables["Cells"])
    assert counts["cells_read"] == (counts["cells_kept"] + counts["cells_dropped_nan"] + counts["cells_no_metadata_row"]
                                    + counts["cells_no_moa"])
    assert counts["cells_no_metadata_row"] == 0 and counts["cells_no_moa"] > 0  # unannotated_1
    join = report["join"]
    assert join["cells_read"] == join["cells_matched"] + sum(join["cells_unmatched"].values())
    assert join["examples"]["treatments_without_moa"] == [{TREATMENT: "unannotated_1@1", "cells": counts["cells_no_moa"]}]
    assert join["joined_on"] == ["TableNumber", "ImageNumber"]
    assert report["curation_rows"] == f"the {join['cells_control']} control rows"
    assert 0 < counts["cells_dropped_nan"] < 0.01 * counts["cells_read"]
    assert counts["control_cells"] == int((cells[MOA] == CONTROL_MOA).sum()) > 0
    assert counts["cells_kept"] - counts["control_cells"] == pytest.approx(SMALL.n_cells, rel=0.01)
    assert "unannotated_1" not in set(cells[COMPOUND])


def test_parquet_round_trip(ingested, tmp_path):
    cells = ingested[0]
    cells.to_parquet(tmp_path / "cells.parquet", engine="pyarrow")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cells.parquet", engine="pyarrow"), cells)


def test_every_layout_gives_the_same_cells_table(ingested, small_tables, small_export, tmp_path):
    tables = {t: small_tables[t] for t in TABLES}
    exports = [
        write_cellprofiler_sqlite(tables, tmp_path / "cp.sqlite"),
        write_cellprofiler_csv(tables, tmp_path / "csv"),
    ]
    reference = ingested[0].sort_values([PLATE, WELL, SITE, "Cells_AreaShape_Area"]).reset_index(drop=True)
    for export in exports:
        cells, _, report = ingest_export(export, _files(small_export), IngestConfig(chunk_images=64))
        assert report["join"]["joined_on"] == ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
        cells = cells.sort_values([PLATE, WELL, SITE, "Cells_AreaShape_Area"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(cells, reference, check_categorical=False)


def test_robust_z_normalisation_centres_controls_per_plate(small_export):
    cells, features, report = _normalised(small_export, "robust_z")
    assert report["counts"]["cells_dropped_nan"] == 0 and report["counts"]["values_imputed"] > 0
    assert np.isfinite(cells[features].to_numpy()).all()
    controls = cells[cells[MOA] == CONTROL_MOA]
    for _, plate in controls.groupby(PLATE, observed=True):
        values = plate[features[:20]].to_numpy(np.float64)
        median = np.median(values, axis=0)
        np.testing.assert_allclose(median, 0.0, atol=1e-5)
        np.testing.assert_allclose(MAD_TO_SD * np.median(np.abs(values - median), axis=0), 1.0, rtol=1e-3)
    treated = cells.loc[cells[MOA] != CONTROL_MOA, features].to_numpy()
    assert np.abs(np.median(treated, axis=0)).max() > 0.2  # treatments move away from DMSO


def test_pooled_robust_z_centres_per_plate_and_scales_once(small_export):
    cells, features, _ = _normalised(small_export, "robust_z_pooled")
    per_plate, _, _ = _normalised(small_export, "robust_z")
    controls = cells[cells[MOA] == CONTROL_MOA]
    plate_mads = []
    for _, plate in controls.groupby(PLATE, observed=True):
        values = plate[features].to_numpy(np.float64)
        np.testing.assert_allclose(np.median(values, axis=0), 0.0, atol=1e-4)
        plate_mads.append(MAD_TO_SD * np.median(np.abs(values), axis=0))
    pooled = controls[features].to_numpy(np.float64)
    np.testing.assert_allclose(MAD_TO_SD * np.median(np.abs(pooled - np.median(pooled, axis=0)), axis=0), 1.0,
                               rtol=1e-3)
    assert np.abs(np.asarray(plate_mads) - 1.0).max() > 0.05  # one scale: plates' own MADs differ from 1
    # Same centring as per-plate robust_z: within a plate the two differ by one positive factor per feature.
    first = (cells[PLATE] == cells[PLATE].iloc[0]).to_numpy()
    pooled_values, plate_values = cells.loc[first, features].to_numpy(np.float64), per_plate.loc[first, features].to_numpy(np.float64)
    moved = np.abs(plate_values) > 1e-3
    ratio = np.where(moved, pooled_values / np.where(moved, plate_values, 1.0), np.nan)
    assert np.nanmin(ratio) > 0
    np.testing.assert_allclose(np.nanmax(ratio, axis=0), np.nanmin(ratio, axis=0), rtol=1e-3)


def _correlated_wells(n_controls: int, n_treated: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Wells whose 4 features share one large nuisance direction; treated wells shift feature 3."""
    rng = np.random.default_rng(seed)
    n = n_controls + n_treated
    nuisance = rng.normal(0, 10, (n, 1)) * np.array([[1.0, 1.0, 1.0, 0.0]])
    values = nuisance + rng.normal(0, 1, (n, 4))
    values[n_controls:, 3] += 3.0
    features = [f"Cells_F_{i}" for i in range(4)]
    wells = pd.DataFrame(values.astype(np.float32), columns=features)
    wells.insert(0, MOA, [CONTROL_MOA] * n_controls + ["Actin disruptors"] * n_treated)
    return wells, features


def test_zca_whitening_on_controls():
    wells, features = _correlated_wells(2000, 50)
    before = wells[features].to_numpy(np.float64)
    whitened = fit_normalizer(wells, features, NormalizationSpec("none", "zca_controls", 1e-6)).transform(wells)
    values = whitened[features].to_numpy(np.float64)
    assert whitened[features].dtypes.eq(np.float32).all()
    controls = values[:2000]
    np.testing.assert_allclose(controls.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cov(controls, rowvar=False), np.eye(4), atol=1e-4)  # nuisance removed
    assert abs(np.corrcoef(before[:2000, 0], before[:2000, 1])[0, 1]) > 0.9
    # ZCA: each column stays closest to its own feature, and the treated shift stays on feature 3.
    assert np.all(np.argmax(np.abs(np.corrcoef(before.T, values.T)[:4, 4:]), axis=0) == np.arange(4))
    shift = values[2000:].mean(axis=0)
    assert shift[3] > 2.0 and np.abs(shift[:3]).max() < 0.5
    # A ridge shrinks the controls' variance along low-variance directions: eigenvalues λ / (λ + ε).
    ridged = fit_normalizer(wells, features, NormalizationSpec("none", "zca_controls", 1.0)).transform(wells)
    ridged = ridged[features].to_numpy(np.float64)[:2000]
    eigenvalues = np.linalg.eigvalsh(np.cov(before[:2000], rowvar=False))
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.cov(ridged, rowvar=False))),
                               eigenvalues / (eigenvalues + 1.0), rtol=1e-3)


def test_zca_whitening_rejects_bad_input():
    wells, features = _correlated_wells(1, 5)
    with pytest.raises(InputDataError, match="at least 2 DMSO"):
        fit_normalizer(wells, features, NormalizationSpec("none", "zca_controls", 1.0))
    with pytest.raises(ValueError, match="epsilon"):
        NormalizationSpec("none", "zca_controls", 0.0)
    with pytest.raises(ValueError, match="whitening"):
        IngestConfig(whitening="pca")


def test_config_from_dict():
    config = IngestConfig.from_dict({"curation": {"max_nan_fraction": 0.5, "drop": ["Cells_AreaShape_Area"]},
                                     "normalization": "standardize"})
    assert config.curation == CurationConfig(max_nan_fraction=0.5, drop=("Cells_AreaShape_Area",))
    with pytest.raises(ValueError, match="normalisation"):
        IngestConfig.from_dict({"normalisation": "robust_z"})
    with pytest.raises(ValueError, match="nan_policy"):
        IngestConfig(nan_policy="zero")


def test_curation_drop_and_keep_lists(small_export):
    curation = CurationConfig(drop=("Cells_AreaShape_Area",), keep=("Nuclei_AreaShape_EulerNumber",))
    _, features, report = ingest_export(small_export["cytominer"], _files(small_export), IngestConfig(curation=curation))
    assert "Cells_AreaShape_Area" not in features and "Nuclei_AreaShape_EulerNumber" in features
    assert report["counts"]["features_kept"] == 453


def test_real_per_well_profiles(shared_data):
    folder = shared_data / "bbbc021"
    cells, features, report = ingest_export(
        folder / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz",
        image_table_files(folder / "BBBC021_v1_image.csv.gz", folder / "BBBC021_v1_moa.csv"), IngestConfig())
    assert report["layout"] == "profiles"
    assert report["join"]["cells_unmatched"] == {"no_metadata_row": 0, "no_moa": 0}
    assert report["join"]["joined_on"] == ["Metadata_Plate", "Metadata_Well"]
    counts = report["counts"]
    assert (counts["compounds"], counts["treatments"], counts["moas"]) == (38, 103, 12)
    assert (cells[MOA] != CONTROL_MOA).sum() == 302 and (cells[MOA] == CONTROL_MOA).sum() == 330
    assert (cells[SITE] == 0).all() and cells[[PLATE, WELL]].drop_duplicates().shape[0] == 632
    assert report["counts"]["features_compartment_columns"] == 516
    assert len(features) == 456  # 516 minus locations, links, neighbours' numbers, Euler numbers


def test_real_per_well_profiles_whitened_on_dmso(shared_data):
    folder = shared_data / "bbbc021"
    cells, features, _ = ingest_export(
        folder / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz",
        image_table_files(folder / "BBBC021_v1_image.csv.gz", folder / "BBBC021_v1_moa.csv"),
        IngestConfig(nan_policy="impute_median"))
    pooled = fit_normalizer(cells, features, NormalizationSpec("robust_z_pooled")).transform(cells)
    whitened = fit_normalizer(cells, features, NormalizationSpec("robust_z_pooled", "zca_controls", 1.0)).transform(cells)
    dmso = (whitened[MOA] == CONTROL_MOA).to_numpy()
    before = np.linalg.eigvalsh(np.cov(pooled.loc[dmso, features].to_numpy(np.float64), rowvar=False))
    after = np.linalg.eigvalsh(np.cov(whitened.loc[dmso, features].to_numpy(np.float64), rowvar=False))
    assert before[-1] > 5 * before[:-1].sum()  # one nuisance direction dominates the DMSO wells
    assert after.max() < 1.0 and after[-1] / after[-2] < 1.01  # ... and no longer after whitening


def test_without_moa_table_every_treatment_is_kept_as_unknown(ingested, small_export):
    cells, features, report = ingest_export(small_export["cytominer"], _files(small_export, moa=False), IngestConfig())
    labelled = ingested[0]
    assert features == ingested[1]
    assert set(cells[MOA]) == {CONTROL_MOA, UNKNOWN_MOA}
    assert (cells[MOA] == CONTROL_MOA).sum() == (labelled[MOA] == CONTROL_MOA).sum()
    assert set(cells[TREATMENT]) == set(labelled[TREATMENT]) | {"unannotated_1@1"}
    assert report["unannotated_treatments"] == [] and report["counts"]["cells_no_moa"] == 0
    assert report["counts"]["cells_no_metadata_row"] == 0
    known = cells[cells[COMPOUND] != "unannotated_1"].sort_values([PLATE, WELL, SITE, "Cells_AreaShape_Area"])
    reference = labelled.sort_values([PLATE, WELL, SITE, "Cells_AreaShape_Area"])
    np.testing.assert_array_equal(known[features].to_numpy(), reference[features].to_numpy())
