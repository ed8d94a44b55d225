"""Normalisation as a fitted transform: candidates, statistics from the controls only, new plates,
serialisation, and the ingestion leakage test (issue 18, item 7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.curation import CurationConfig, candidate_features
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.normalize import (
    EPSILON, MAD_TO_SD, NormalizationSpec, Normalizer, fit_normalizer, normalization_specs, normalize_problem,
)
from hca_dtl.data.schema import COMPOUND, CONTROL_MOA, MOA, PLATE, InputDataError

from .conftest import TABLES, image_table_files, write_cytominer, write_metadata


# The per-plate normalisation and whitening as ingestion applied them before they became a fitted
# transform (hca_dtl.data.normalize at commit f57885a), kept as the oracle the transform must reproduce.
def _reference_normalize_per_plate(cells, features, method):
    if method == "none":
        return cells
    plates, control = cells[PLATE].to_numpy(), (cells[MOA] == CONTROL_MOA).to_numpy()
    values = cells[features].to_numpy(copy=True)

    def centre_scale(x):
        if method in ("robust_z", "robust_z_pooled"):
            centre = np.median(x, axis=0)
            return centre, np.maximum(MAD_TO_SD * np.median(np.abs(x - centre), axis=0), EPSILON)
        return x.mean(axis=0), np.maximum(x.std(axis=0, ddof=1), EPSILON)

    for plate in pd.unique(plates):
        rows = plates == plate
        centre, scale = centre_scale(values[rows & control].astype(np.float64))
        values[rows] = ((values[rows] - centre) / (1.0 if method == "robust_z_pooled" else scale)).astype(values.dtype)
    if method == "robust_z_pooled":
        values = (values / centre_scale(values[control].astype(np.float64))[1]).astype(values.dtype)
    cells[features] = values
    return cells


def _reference_whiten(cells, features, epsilon):
    controls = cells.loc[(cells[MOA] == CONTROL_MOA).to_numpy(), features].to_numpy(np.float64)
    mean = controls.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(controls - mean, rowvar=False))
    transform = (eigenvectors * (1.0 / np.sqrt(np.maximum(eigenvalues, 0.0) + epsilon))) @ eigenvectors.T
    values = cells[features].to_numpy()
    cells[features] = ((values - mean) @ transform).astype(values.dtype)
    return cells


@pytest.fixture(scope="module")
def raw_cells(small_export):
    """The small synthetic export, ingested (not normalised), NaN values imputed."""
    cells, features, _ = ingest_export(small_export["cytominer"],
                                       image_table_files(small_export["image"], small_export["moa"]),
                                       IngestConfig(nan_policy="impute_median"))
    return cells, features


@pytest.mark.parametrize("method", ["none", "robust_z", "standardize", "robust_z_pooled"])
@pytest.mark.parametrize("whitening", ["none", "zca_controls"])
def test_transform_reproduces_the_former_ingestion_normalisation(raw_cells, method, whitening):
    cells, features = raw_cells
    if whitening == "zca_controls":
        # A feature whose control MAD is 0 on a plate (neighbour counts) is divided by EPSILON, which
        # makes the control covariance so ill-conditioned (eigenvalues up to 6e11) that its
        # eigenvectors depend on rounding; compare on the others.
        scales = np.array(list(fit_normalizer(cells, features, NormalizationSpec("robust_z")).plate_scales.values()))
        features = [f for f, floored in zip(features, (scales <= EPSILON).any(axis=0)) if not floored]
        cells = cells.drop(columns=[f for f in raw_cells[1] if f not in features])
    spec = NormalizationSpec(method, whitening, 0.1)
    normalizer = Normalizer.from_dict(json.loads(json.dumps(fit_normalizer(cells, features, spec).to_dict())))
    new = normalizer.transform(cells)
    old = _reference_normalize_per_plate(cells.copy(), features, method)
    if whitening == "zca_controls":
        old = _reference_whiten(old, features, 0.1)
        # Matrix products may round the last bit differently row by row.
        np.testing.assert_allclose(new[features].to_numpy(), old[features].to_numpy(), rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(new[features].to_numpy(), old[features].to_numpy())
    pd.testing.assert_frame_equal(new.drop(columns=features), cells.drop(columns=features))
    assert (new[features].dtypes == np.float32).all()


def test_transform_reproduces_the_former_normalisation_of_the_real_wells(shared_data):
    folder = shared_data / "bbbc021"
    cells, features, _ = ingest_export(
        folder / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz",
        image_table_files(folder / "BBBC021_v1_image.csv.gz", folder / "BBBC021_v1_moa.csv"),
        IngestConfig(nan_policy="impute_median"))
    spec = NormalizationSpec("robust_z_pooled", "zca_controls", 0.1)  # conf/bbbc021_wells
    new = fit_normalizer(cells, features, spec).transform(cells)[features].to_numpy()
    old = _reference_whiten(_reference_normalize_per_plate(cells.copy(), features, spec.method), features, 0.1)
    np.testing.assert_allclose(new, old[features].to_numpy(), rtol=1e-6, atol=1e-6)  # measured: ≤ 1 float32 ULP


def test_specs_labels_and_candidates():
    assert NormalizationSpec("robust_z_pooled", "zca_controls", 0.1).label == "robust_z_pooled+zca(0.1)"
    assert NormalizationSpec("robust_z").label == "robust_z"
    assert NormalizationSpec.from_dict({"method": "standardize"}) == NormalizationSpec("standardize")
    for bad in ({"method": "zscore"}, {"whitening": "pca"}, {"whitening_epsilon": 0}, {"ridge": 1}):
        with pytest.raises(ValueError):
            NormalizationSpec.from_dict(bad)
    assert normalization_specs({}) == [NormalizationSpec()]
    specs = normalization_specs({"normalization": {"candidates": ["robust_z_pooled", "robust_z"]},
                                 "whitening": {"candidates": ["none", "zca_controls"]},
                                 "whitening_epsilon": {"candidates": [1.0, 0.1]}})
    assert [s.label for s in specs] == [  # product in listed order, no duplicate without whitening
        "robust_z_pooled", "robust_z_pooled+zca(1)", "robust_z_pooled+zca(0.1)",
        "robust_z", "robust_z+zca(1)", "robust_z+zca(0.1)"]
    for bad in ({"normalization": {"candidates": []}}, {"normalization": {"values": ["none"]}},
                {"whitening": {"candidates": "none"}}, {"normalization": {"candidates": ["zscore"]}}):
        with pytest.raises(ValueError):
            normalization_specs(bad)
    assert IngestConfig.from_dict({"normalization": {"candidates": ["none", "robust_z"]}}).normalization_specs == [
        NormalizationSpec("none"), NormalizationSpec("robust_z")]


def test_statistics_come_from_the_controls_and_plates_must_be_known(raw_cells):
    cells, features = raw_cells
    spec = NormalizationSpec("robust_z_pooled", "zca_controls", 1.0)
    treated = (cells[MOA] != CONTROL_MOA).to_numpy()
    shaken = cells.copy()
    shaken.loc[treated, features] = shaken.loc[treated, features].to_numpy() * 7.0 - 3.0
    assert fit_normalizer(shaken, features, spec).to_dict() == fit_normalizer(cells, features, spec).to_dict()

    normalizer = fit_normalizer(cells, features, spec)
    renamed = cells.assign(**{PLATE: cells[PLATE].astype(str) + "_new"})
    with pytest.raises(InputDataError, match=r"Plate\(s\) \['Week.*_new'.*Recentre"):
        normalizer.transform(renamed)
    with pytest.raises(InputDataError, match="no DMSO control rows"):
        fit_normalizer(cells[treated], features, spec)
    assert fit_normalizer(cells[treated], features, NormalizationSpec()).transform(cells[treated]) is not None


def test_recentred_keeps_the_training_scale_and_whitening_refitted_does_not(raw_cells):
    cells, features = raw_cells
    spec = NormalizationSpec("robust_z_pooled", "zca_controls", 1.0)
    normalizer = fit_normalizer(cells, features, spec)
    # New plates: the same cells, renamed, shifted by a plate offset and twice the spread.
    new = cells.assign(**{PLATE: cells[PLATE].astype(str) + "_new"})
    new[features] = new[features].to_numpy() * 2.0 + 10.0

    recentred = normalizer.recentred(new)
    assert set(recentred.centres) == set(new[PLATE].astype(str))
    np.testing.assert_array_equal(recentred.scale, normalizer.scale)
    np.testing.assert_array_equal(recentred.whitening_matrix, normalizer.whitening_matrix)
    # The training scale halves nothing: the doubled spread stays doubled.
    unwhiten = np.linalg.inv(normalizer.whitening_matrix)
    before = normalizer.transform(cells)[features].to_numpy(np.float64) @ unwhiten
    after = recentred.transform(new)[features].to_numpy(np.float64) @ unwhiten
    np.testing.assert_allclose(after - after.mean(0), 2 * (before - before.mean(0)), rtol=1e-3, atol=1e-2)

    refitted = normalizer.refitted(new)
    np.testing.assert_allclose(refitted.scale, 2 * normalizer.scale, rtol=1e-4)
    np.testing.assert_allclose(refitted.transform(new)[features].to_numpy(), normalizer.transform(cells)[features].to_numpy(),
                               rtol=1e-3, atol=1e-3)
    control = (new[MOA] == CONTROL_MOA).to_numpy()
    assert normalizer.recentred(new, control_mask=control).to_dict() == recentred.to_dict()

    per_plate = fit_normalizer(cells, features, NormalizationSpec("robust_z")).recentred(new)
    assert per_plate.scale is None and set(per_plate.plate_scales) == set(per_plate.centres)  # each plate's own scale


def test_normalize_problem_applies_the_default_normalizer(raw_cells):
    cells, features = raw_cells
    problem = cells[cells[MOA] != CONTROL_MOA]
    normalizers = {s.label: fit_normalizer(cells, features, s).to_dict()
                   for s in normalization_specs({"normalization": {"candidates": ["robust_z", "standardize"]}})}
    normalised, used = normalize_problem(problem, normalizers)
    assert used.spec == NormalizationSpec("robust_z")
    np.testing.assert_array_equal(normalised[features].to_numpy(),
                                  Normalizer.from_dict(normalizers["robust_z"]).transform(problem)[features].to_numpy())
    with pytest.raises(InputDataError, match="rerun the ingestion"):
        normalize_problem(problem, {})


def test_ingestion_outputs_for_other_rows_ignore_a_compounds_treated_cells(small_tables, tmp_path):
    """Issue 18, item 7: scrambling one compound's treated cells — features multiplied by noise,
    and a column constant everywhere except that compound — changes neither the kept features nor
    any normalised value of the other rows, for every normalisation candidate."""
    images = small_tables["image_csv"]
    victim = "actin_disruptors_1"
    keys = images.loc[images["Image_Metadata_Compound"] == victim, ["TableNumber", "ImageNumber"]]
    rng = np.random.default_rng(0)
    exports = {}
    for name in ("original", "scrambled"):
        tables = {t: small_tables[t].copy() for t in TABLES}
        for table in TABLES[1:]:
            frame = tables[table]
            hit = frame.merge(keys, how="left", indicator=True)["_merge"].eq("both").to_numpy()
            if name == "scrambled":
                columns = candidate_features(frame.columns, CurationConfig())
                frame.loc[hit, columns] = frame.loc[hit, columns].to_numpy() * rng.lognormal(0, 1, (hit.sum(), len(columns)))
            frame[f"{table}_Intensity_LeakProbe"] = np.where(hit & (name == "scrambled"), rng.normal(size=len(frame)), 1.0)
        exports[name] = write_cytominer(tables, tmp_path / f"{name}.sqlite")
    image, moa = write_metadata(small_tables, tmp_path / "meta")
    config = IngestConfig.from_dict({"nan_policy": "impute_median", "normalization": {"candidates": [
        "robust_z_pooled", "robust_z", "standardize"]}, "whitening": {"candidates": ["none", "zca_controls"]}})
    outputs = {name: ingest_export(path, image_table_files(image, moa), config) for name, path in exports.items()}
    (original, features, _), (scrambled, scrambled_features, _) = outputs["original"], outputs["scrambled"]
    assert scrambled_features == features and not any("LeakProbe" in f for f in features)
    other = (original[COMPOUND] != victim).to_numpy()
    assert (scrambled[COMPOUND] != victim).to_numpy().tolist() == other.tolist() and (~other).sum() > 0
    assert not np.allclose(original.loc[~other, features].to_numpy(), scrambled.loc[~other, features].to_numpy())
    for spec in config.normalization_specs:
        a = fit_normalizer(original, features, spec)
        b = fit_normalizer(scrambled, features, spec)
        assert a.to_dict() == b.to_dict(), spec.label
        np.testing.assert_array_equal(a.transform(original.loc[other])[features].to_numpy(),
                                      b.transform(scrambled.loc[other])[features].to_numpy())


def test_fold_normalisers_leave_out_the_held_out_batches(raw_cells) -> None:
    # Under NSCB a fold's pooled scale and whitening come from the controls outside its held-out
    # batches; every plate, held-out ones included, is centred on its own controls.
    from hca_dtl.data.normalize import FoldNormalizers
    from hca_dtl.data.schema import BATCH

    cells, features = raw_cells
    spec = NormalizationSpec("robust_z_pooled", "zca_controls", 1.0)
    controls = cells[cells[MOA] == CONTROL_MOA].reset_index(drop=True)
    folds = FoldNormalizers({spec.label: fit_normalizer(cells, features, spec)}, controls)
    week = sorted(controls[BATCH].astype(str).unique())[0]
    without = folds.get(spec.label, (week,))
    # Scrambling that week's controls leaves the fold's scale and whitening exactly as they were...
    scrambled = controls.copy()
    in_week = scrambled[BATCH].astype(str) == week
    scrambled.loc[in_week, features] = scrambled.loc[in_week, features].to_numpy() * 3.0 + 1.0
    again = FoldNormalizers({spec.label: fit_normalizer(cells, features, spec)}, scrambled).get(
        spec.label, (week,))
    np.testing.assert_array_equal(without.scale, again.scale)
    np.testing.assert_array_equal(without.whitening_matrix, again.whitening_matrix)
    # ... and equals a fit on the other weeks' controls alone; while the all-controls fit differs.
    others = fit_normalizer(controls[~in_week.to_numpy()], features, spec)
    np.testing.assert_allclose(without.scale, others.scale)
    assert not np.allclose(folds.get(spec.label).scale, without.scale)
    # The held-out week's plates are centred on their own controls.
    plate = controls.loc[in_week, PLATE].astype(str).iloc[0]
    np.testing.assert_allclose(without.centres[plate], folds.get(spec.label).centres[plate])
    assert folds.get(spec.label, (week,)) is without  # fitted once per batch set
