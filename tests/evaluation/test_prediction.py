"""Predicting new, unlabelled treatments: feature checks, cell predictions, votes and flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.normalize import NormalizationSpec, fit_normalizer
from hca_dtl.data.schema import (
    BATCH, COMPOUND, CONCENTRATION, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, SITE, TREATMENT, UNKNOWN_MOA, WELL,
    InputDataError, treatment_name,
)
from hca_dtl.data.synthetic import SyntheticConfig, synthetic_tables, write_cellprofiler_csv
from hca_dtl.evaluation.prediction import (
    features_out_of_range, predict_cells, prepare_export, require_features, vote_treatments,
)
from hca_dtl.model import SAAClassifier

CLASSES = ["Actin disruptors", "Eg5 inhibitors", "Kinase inhibitors"]


def _cell_predictions(rows: list[tuple[str, str, float, bool]]) -> pd.DataFrame:
    """``(treatment, predicted, probability, out_of_range)`` rows → a ``predict_cells``-like table."""
    treatment, predicted, probability, out = zip(*rows)
    compound = [t.split("@")[0] for t in treatment]
    return pd.DataFrame({
        COMPOUND: pd.Categorical(compound),
        CONCENTRATION: np.array([float(t.split("@")[1]) for t in treatment], dtype=np.float32),
        TREATMENT: pd.Categorical(treatment),
        "predicted": pd.Categorical(predicted, categories=CLASSES),
        "probability": np.array(probability, dtype=np.float32),
        "out_of_range": np.array(out),
    })


def test_majority_vote_shares_and_flags():
    a, b = "taxol@0.3", "cpd@1"
    cells = _cell_predictions(
        [(a, "Eg5 inhibitors", 0.9, False)] * 4 + [(a, "Actin disruptors", 0.8, True)] * 2
        # b: a 2–2 tie, broken by the higher mean probability (Actin disruptors), then 1 vote
        + [(b, "Eg5 inhibitors", 0.4, True)] * 2 + [(b, "Actin disruptors", 0.7, True)] * 2
        + [(b, "Kinase inhibitors", 0.5, False)]
    )
    votes = vote_treatments(cells, weak_vote_threshold=0.5, out_of_range_threshold=0.5)
    assert list(votes[TREATMENT]) == [b, a]  # sorted by treatment
    np.testing.assert_allclose(votes[CLASSES].sum(axis=1), 1.0)
    by_treatment = votes.set_index(TREATMENT)
    assert by_treatment.loc[a, "predicted"] == "Eg5 inhibitors"
    assert by_treatment.loc[a, "vote_share"] == pytest.approx(4 / 6)
    assert by_treatment.loc[a, "Kinase inhibitors"] == 0.0  # a class without votes keeps its column
    assert by_treatment.loc[b, "predicted"] == "Actin disruptors"
    assert list(votes["n_cells"]) == [5, 6]
    assert list(votes["weak_vote"]) == [True, False]  # 2/5 < 0.5 <= 4/6
    np.testing.assert_allclose(votes["out_of_range_fraction"], [4 / 5, 2 / 6])
    assert list(votes["out_of_range"]) == [True, False]
    assert votes["weak_vote"].dtype == bool and votes["out_of_range"].dtype == bool
    assert vote_treatments(cells, out_of_range_threshold=0.9)["out_of_range"].sum() == 0
    with pytest.raises(ValueError, match="weak_vote_threshold"):
        vote_treatments(cells, weak_vote_threshold=1.5)


def test_features_out_of_range_counts_beyond_the_tolerance():
    minimum = np.array([0.0, 10.0, 5.0])
    scale = np.array([1.0, 0.5, 0.0])  # ranges 1 and 2; the third feature was constant in training
    x = np.array([
        [0.0, 12.0, 5.0],     # at the training min and max
        [1.05, 9.9, 100.0],   # 5 % of the range beyond: within a 10 % tolerance; constant ignored
        [1.2, 12.0, 5.0],     # 20 % above the max
        [-0.5, 7.0, 5.0],     # both below the min
    ])
    assert list(features_out_of_range(x, minimum, scale, tolerance=0.1)) == [0, 0, 1, 2]
    assert list(features_out_of_range(x, minimum, scale, tolerance=0.0)) == [0, 2, 1, 2]
    with pytest.raises(ValueError, match="tolerance"):
        features_out_of_range(x, minimum, scale, tolerance=-1)


def test_predict_cells_skips_controls_and_flags_out_of_range_cells():
    features = ["Cells_A", "Cells_B", "Nuclei_C"]
    model = SAAClassifier(len(features), [4, 3], len(CLASSES),
                          metadata={"features": features, "classes": CLASSES, "problem": "toy"})
    model.scaling.minimum.assign(np.zeros(3, dtype=np.float32))
    model.scaling.scale.assign(np.ones(3, dtype=np.float32))
    compounds = ["DMSO", "DMSO", "x", "x", "y", "y"]
    concentrations = [0.0, 0.0, 1.0, 1.0, 3.0, 3.0]
    cells = pd.DataFrame({
        PLATE: "P1", WELL: ["A01", "A01", "B01", "B01", "C01", "C01"], SITE: 1, BATCH: "Week1",
        COMPOUND: compounds, CONCENTRATION: concentrations,
        TREATMENT: [treatment_name(c, x) for c, x in zip(compounds, concentrations)],
        MOA: [CONTROL_MOA, CONTROL_MOA] + [UNKNOWN_MOA] * 4,
    })
    cells[features] = np.array([[0.5] * 3, [0.5] * 3, [0.2] * 3, [0.9] * 3, [1.5, 0.5, 0.5], [2.0, -1.0, 0.5]],
                               dtype=np.float32)
    predicted = predict_cells(model, cells, tolerance=0.1)
    assert list(predicted[TREATMENT].astype(str)) == ["x@1", "x@1", "y@3", "y@3"]
    assert MOA not in predicted.columns
    assert list(predicted["n_features_out_of_range"]) == [0, 0, 1, 2]
    assert list(predicted["out_of_range"]) == [False, False, True, True]
    assert list(predicted["predicted"].cat.categories) == CLASSES
    # The logistic layer starts at zero: every class is equally likely.
    np.testing.assert_allclose(predicted["probability"], 1 / len(CLASSES), rtol=1e-5)
    with pytest.raises(InputDataError, match="no non-control cells"):
        predict_cells(model, cells[cells[MOA] == CONTROL_MOA])


@pytest.fixture(scope="module")
def small_csv_export(tmp_path_factory):
    """A tiny synthetic export (CellProfiler CSV folder) and its image metadata CSV."""
    tables = synthetic_tables(SyntheticConfig(seed=11, n_cells=300))
    folder = tmp_path_factory.mktemp("new_export")
    export = write_cellprofiler_csv({t: tables[t] for t in ("Image", "Cells", "Cytoplasm", "Nuclei")}, folder / "csv")
    image = folder / "image.csv"
    tables["image_csv"].to_csv(image, index=False)
    return export, MetadataFiles(image_metadata=str(image))


def test_prepare_export_keeps_exactly_the_model_features(small_csv_export):
    export, image = small_csv_export
    # Model order differs from the export's; the second feature is NaN in ~30 % of cells, which
    # curation would drop but a model trained on it needs (imputed here, as in its training).
    features = ["Nuclei_AreaShape_Area", "Cytoplasm_Texture_Correlation_CorrDAPI_10_0", "Cells_AreaShape_Area"]
    metadata = {"features": features, "ingestion": {"nan_policy": "impute_median"}, "problem": "toy"}
    cells, report = prepare_export(export, image, metadata)
    assert list(cells.columns) == [*METADATA_COLUMNS, *features]
    assert np.isfinite(cells[features].to_numpy()).all()
    assert set(cells[MOA]) == {CONTROL_MOA, UNKNOWN_MOA}
    assert "unannotated_1@1" in set(cells[TREATMENT])  # unlabelled data: nothing is left out
    assert report["counts"]["cells_kept"] == report["counts"]["cells_read"] == len(cells)


@pytest.fixture(scope="module")
def larger_csv_export(tmp_path_factory):
    """As ``small_csv_export`` with enough cells for every plate to hold DMSO cells."""
    tables = synthetic_tables(SyntheticConfig(seed=11, n_cells=1500))
    folder = tmp_path_factory.mktemp("larger_export")
    export = write_cellprofiler_csv({t: tables[t] for t in ("Image", "Cells", "Cytoplasm", "Nuclei")}, folder / "csv")
    tables["image_csv"].to_csv(folder / "image.csv", index=False)
    return export, MetadataFiles(image_metadata=str(folder / "image.csv"))


def test_prepare_export_uses_the_training_scale_and_whitening_unless_told_otherwise(larger_csv_export):
    export, files = larger_csv_export
    features = ["Nuclei_AreaShape_Area", "Cells_AreaShape_Area", "Cells_AreaShape_Perimeter"]
    ingestion = {"nan_policy": "impute_median"}
    raw, _ = prepare_export(export, files, {"features": features, "ingestion": ingestion})  # no statistics: none
    # The model was trained on data 3× the scale of this export (and shifted): its pooled scale is 3× larger.
    training = raw.assign(**{f: raw[f] * 3 + 5 for f in features})
    normalizer = fit_normalizer(training, features, NormalizationSpec("robust_z_pooled", "zca_controls", 1e-6))
    metadata = {"features": features, "ingestion": ingestion, "normalizer": normalizer.to_dict()}
    control = (raw[MOA] == CONTROL_MOA).to_numpy()
    pooled_on_export = fit_normalizer(raw, features, NormalizationSpec("robust_z_pooled")).transform(raw)

    # Default: each plate centred on its own DMSO, then the training scale and whitening.
    cells, report = prepare_export(export, files, metadata)
    assert report["normalization"] == {"label": "robust_z_pooled+zca(1e-06)", "statistics": "training"}
    values = cells[features].to_numpy(np.float64)
    unwhitened = values @ np.linalg.inv(normalizer.whitening_matrix) + normalizer.whitening_mean
    np.testing.assert_allclose(3 * unwhitened, pooled_on_export[features].to_numpy(np.float64), rtol=1e-3, atol=1e-3)
    for plate in pd.unique(cells[PLATE]):
        rows = (cells[PLATE] == plate).to_numpy() & control
        np.testing.assert_allclose(np.median(unwhitened[rows], axis=0), 0.0, atol=1e-4)
    assert np.diag(np.cov(values[control], rowvar=False)).max() < 0.5  # the training whitening, not the export's

    # Opt-out: everything refitted on the export's DMSO rows, which come out white.
    refitted, report = prepare_export(export, files, metadata, statistics="export")
    assert report["normalization"]["statistics"] == "export"
    np.testing.assert_allclose(np.cov(refitted.loc[control, features].to_numpy(np.float64), rowvar=False),
                               np.eye(3), atol=1e-3)
    with pytest.raises(ValueError, match="normalization_statistics"):
        prepare_export(export, files, metadata, statistics="test")


def test_plates_without_controls_are_left_out_and_reported(small_csv_export, larger_csv_export):
    features = ["Nuclei_AreaShape_Area", "Cells_AreaShape_Area"]
    training, _ = prepare_export(*larger_csv_export, {"features": features})
    metadata = {"features": features,
                "normalizer": fit_normalizer(training, features, NormalizationSpec("robust_z_pooled")).to_dict()}
    export, files = small_csv_export  # 300 cells: some plates hold no DMSO cell
    raw, _ = prepare_export(export, files, {"features": features})
    cells, report = prepare_export(export, files, metadata)
    skipped = report["plates_without_controls"]
    assert skipped and set(skipped).isdisjoint(set(cells[PLATE].astype(str)))
    assert len(cells) + sum(skipped.values()) == len(raw) == report["counts"]["cells_kept"]


def test_missing_features_are_listed_with_their_count(small_csv_export):
    export, image = small_csv_export
    metadata = {"features": ["Cells_AreaShape_Area", "Cells_Foo_1", "Nuclei_Bar_2"], "problem": "Pset1",
                "data_source": "real data: BBBC021"}
    with pytest.raises(InputDataError) as error:
        prepare_export(export, image, metadata)
    message = str(error.value)
    assert "lacks 2 of the 3 features" in message and "Cells_Foo_1, Nuclei_Bar_2" in message
    assert str(export) in message and "Pset1 model" in message
    many = [f"Cells_Missing_{i}" for i in range(40)]
    with pytest.raises(InputDataError, match=r"lacks 40 of the 40 .* and 10 more"):
        require_features(["Cells_AreaShape_Area"], many, model="the toy model", export="e.sqlite")
