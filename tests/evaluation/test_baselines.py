"""Baselines under LOOCV (through the harness): they learn, never see TEST cells, repeat; their
grids are chosen inside the folds; NSC / NSCB by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.normalize import FoldNormalizers
from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    LABEL,
    MOA,
    ROLE_TEST,
    ROLE_TRAIN,
    TREATMENT,
    feature_columns,
)
from hca_dtl.evaluation.baselines import fit_fold, nsc_nearest_neighbour
from hca_dtl.evaluation.experiments import experiment_keys
from hca_dtl.evaluation.harness import run_unit
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.evaluation.protocol import LOOCVConfig, Method, baseline_options
from hca_dtl.evaluation.results import EXPERIMENT_KEYS
from hca_dtl.evaluation.selection import expand

SMALL_GRIDS = {
    "svm_linear": {"C": {"candidates": [0.01, 1.0]}, "epochs": 10},
    "svm_rbf": {"C": {"candidates": [1, 100]}, "gamma": {"candidates": [0.01, 0.001]},
                "train_fraction": 0.5, "min_train_cells": 0},
    "logistic_regression": {"C": {"candidates": [0.1, 10.0]}},
}


def run_baseline(name, cells, features, plan, classes, options, selection="validation_wells"):
    method = Method(name, "baseline", options=options, baseline=name)
    return run_unit(cells, classes, features, plan, method, experiment_keys(name, "toy"),
                    loocv=LOOCVConfig(selection=selection, inner_folds=2), normalizers=FoldNormalizers.identity(feature_columns(cells.columns)))


@pytest.fixture(scope="module")
def problem(cells_factory):
    cells = cells_factory(n_cells_per_well=8, separation=2.0, seed=1)
    features = [c for c in cells.columns if c.startswith("Cells_")]
    plan = leave_one_compound_out(cells, validation_fraction=0.25, seed=0)
    return cells, features, plan


@pytest.mark.parametrize("name", sorted(SMALL_GRIDS))
def test_baseline_learns_and_repeats(problem, classes, name):
    cells, features, plan = problem
    result = run_baseline(name, cells, features, plan, classes, SMALL_GRIDS[name])
    table, runs = result.accuracies, result.runs
    assert table["cell_accuracy"].iloc[0] > 0.6  # chance: 1/3
    assert table["treatment_accuracy"].iloc[0] > 0.8
    assert len(result.cell_predictions) == len(cells)  # each cell tested once
    assert list(runs.columns[:6]) == [*EXPERIMENT_KEYS, "repetition"]
    assert runs["n_compounds"].tolist() == [7] and runs["wall_seconds"].iloc[0] > 0
    assert sum(int(part.split(": ")[1].split()[0]) for part in runs["chosen"].iloc[0].split("; ")) == 7
    # Every fold chose one grid point; the choice record names each candidate once per fold.
    n_candidates = len(expand(SMALL_GRIDS[name]))
    assert len(result.choices) == 7 * n_candidates and result.choices["chosen"].sum() == 7
    again = run_baseline(name, cells, features, plan, classes, SMALL_GRIDS[name])
    pd.testing.assert_frame_equal(result.cell_predictions, again.cell_predictions)


def test_nested_choice_uses_inner_compounds_only(problem, classes):
    # Under inner_compounds a fold judges C by treatment votes on its own training compounds:
    # scrambling the held-out compound cannot change what fold 0 chose, nor its predictions.
    cells, features, plan = problem
    options = {"C": {"candidates": [0.001, 10.0]}}
    clean = run_baseline("logistic_regression", cells, features, plan, classes, options,
                         selection="inner_compounds")
    held_out = plan.roles[:, 0] == ROLE_TEST
    scrambled = cells.copy()
    scrambled.loc[held_out, features] = 50.0
    scrambled.loc[held_out, LABEL] = (cells.loc[held_out, LABEL] + 1) % 3
    other = run_baseline("logistic_regression", scrambled, features, plan, classes, options,
                         selection="inner_compounds")
    first = clean.choices[clean.choices["fold"] == 0]
    assert first["selection"].eq("inner_compounds").all()
    pd.testing.assert_frame_equal(first, other.choices[other.choices["fold"] == 0])
    # ... while a fold that trains on those cells may see different inner scores.
    assert not clean.choices["score"].equals(other.choices["score"])


@pytest.mark.parametrize("name", sorted(SMALL_GRIDS))
def test_test_cells_never_used_in_fitting(problem, name):
    cells, features, plan = problem
    x = cells[features].to_numpy(dtype=np.float32)
    y = cells[LABEL].to_numpy()
    role = plan.roles[:, 0]
    test = role == ROLE_TEST
    params = expand(baseline_options(name, SMALL_GRIDS[name]))[-1]
    clean = fit_fold(name, x, y, role, params, seed=0)
    x_bad, y_bad = x.copy(), y.copy()
    x_bad[test] = 1000.0
    y_bad[test] = (y[test] + 1) % 3
    corrupted = fit_fold(name, x_bad, y_bad, role, params, seed=0)
    np.testing.assert_array_equal(clean.predict(x), corrupted.predict(x))
    train = role == ROLE_TRAIN
    np.testing.assert_allclose(clean.mean, x[train].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(clean.scale, x[train].std(axis=0), rtol=1e-5)


def test_unknown_method_or_parameter():
    with pytest.raises(ValueError, match="Unknown baseline"):
        Method("svm_poly", "baseline", baseline="svm_poly")
    with pytest.raises(ValueError, match="gamma"):
        Method("svm_linear", "baseline", options={"gamma": {"candidates": [1]}}, baseline="svm_linear")
    with pytest.raises(ValueError, match="candidates"):  # a grid is written as candidates
        baseline_options("svm_linear", {"C": [0.1, 1.0]})


def profiles() -> pd.DataFrame:
    """Six treatments of five compounds (two wells each) in 2-D, with known cosine neighbours."""
    rows = [  # treatment, compound, MOA, batch, feature vector
        ("p1@1", "p1", "P", "W1", (1.0, 0.05)),
        ("p1@3", "p1", "P", "W1", (1.0, 0.0)),
        ("q1@1", "q1", "P", "W2", (1.0, 0.2)),
        ("r1@1", "r1", "R", "W3", (0.1, 1.0)),
        ("s1@1", "s1", "R", "W1", (0.0, 1.0)),
        ("t1@1", "t1", "P", "W3", (0.12, 1.0)),  # a P compound that looks like R, beside r1
    ]
    table = []
    for treatment, compound, moa, batch, (a, b) in rows:
        for jitter in (-0.001, 0.001):
            table.append({TREATMENT: treatment, COMPOUND: compound, MOA: moa, BATCH: batch,
                          "Cells_a": a + jitter, "Cells_b": b - jitter})
    return pd.DataFrame(table)


FEATURES = ["Cells_a", "Cells_b"]


def test_nsc_nearest_neighbour_by_hand():
    votes = nsc_nearest_neighbour(profiles(), FEATURES).set_index(TREATMENT)
    assert votes["predicted"].to_dict() == {
        "p1@1": "P",  # nearest is p1@3, excluded (same compound) -> q1
        "p1@3": "P", "q1@1": "P",
        "r1@1": "P",  # t1 is nearest
        "s1@1": "R",  # r1
        "t1@1": "R",  # r1
    }
    assert votes["moa_reachable"].all() and (votes["n_cells"] == 2).all()
    assert (votes["approach"] == "NSC").all() and (votes["vote_share"] == 1.0).all()
    assert votes["correct"].sum() == 4


def test_nscb_excludes_shared_batches():
    votes = nsc_nearest_neighbour(profiles(), FEATURES, hold_out_batch=True).set_index(TREATMENT)
    assert (votes["approach"] == "NSCB").all()
    assert votes.loc["r1@1", "predicted"] == "R"  # t1 shares W3 with r1: excluded -> s1
    assert votes.loc["s1@1", "predicted"] == "R"  # p1 shares W1: excluded; r1 is admissible
    assert votes.loc["t1@1", "predicted"] == "R"  # r1 excluded -> s1
    one_batch = profiles().assign(**{BATCH: lambda t: np.where(t[MOA] == "R", "W9", t[BATCH])})
    votes = nsc_nearest_neighbour(one_batch, FEATURES, hold_out_batch=True).set_index(TREATMENT)
    # R's two compounds now share batch W9: neither can reach an R neighbour.
    assert not votes.loc[["r1@1", "s1@1"], "moa_reachable"].any()
    assert not votes.loc[["r1@1", "s1@1"], "correct"].any()
    assert votes.loc[["p1@1", "q1@1", "t1@1"], "moa_reachable"].all()


def test_nscb_drops_treatments_without_any_neighbour():
    lonely = profiles().assign(**{BATCH: "W1"})
    assert nsc_nearest_neighbour(lonely, FEATURES, hold_out_batch=True).empty
