"""Cell predictions, majority vote (ties included), vote shares and accuracies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.schema import COMPOUND, LABEL, MOA, ROLE_TEST, TREATMENT, InputDataError
from hca_dtl.evaluation import results
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.evaluation.results import EXPERIMENT_KEYS
from hca_dtl.evaluation.voting import accuracies, majority_vote, vote_shares

KEYS = dict(zip(EXPERIMENT_KEYS, ("BL Pset1", "BL", "", "", "Pset1")))


def hand_predictions(rows: list[tuple], probability: list[float] | None = None) -> pd.DataFrame:
    """Cell predictions from (repetition, treatment, true MOA, predicted) tuples."""
    table = pd.DataFrame(rows, columns=["repetition", TREATMENT, MOA, "predicted"])
    for key, value in KEYS.items():
        table[key] = value
    table[COMPOUND] = table[TREATMENT].str.split("@").str[0]
    if probability is not None:
        table["probability"] = probability
    return table


def test_test_predictions_keeps_test_cells_only(cells, classes):
    plan = leave_one_compound_out(cells, n_repetitions=2)
    rng = np.random.default_rng(0)
    predicted = rng.integers(0, len(classes), size=plan.roles.shape)
    table = results.test_predictions(cells, plan, predicted, classes, KEYS)
    assert len(table) == 2 * len(cells)
    assert list(table.columns) == [*EXPERIMENT_KEYS, "repetition", "fold", "held_out", COMPOUND,
                                   TREATMENT, MOA, "predicted"]
    assert (table["held_out"].astype(str) == table[COMPOUND].astype(str)).all()
    assert isinstance(table["predicted"].dtype, pd.CategoricalDtype)
    fold, cell = np.nonzero(plan.roles.T == ROLE_TEST)  # documented order: by fold, then cell
    assert (table["fold"].to_numpy() == fold).all()
    assert (table["repetition"].to_numpy() == plan.repetitions[fold]).all()
    assert (table["predicted"].astype(str).to_numpy() == np.asarray(classes)[predicted[cell, fold]]).all()
    assert (table[MOA].astype(str).to_numpy() == cells[MOA].to_numpy()[cell]).all()


def test_test_predictions_rejects_bad_input(cells, classes):
    plan = leave_one_compound_out(cells)
    with pytest.raises(ValueError, match="shape"):
        results.test_predictions(cells, plan, np.zeros((3, 3), int), classes, KEYS)
    with pytest.raises(ValueError, match="codes outside"):
        results.test_predictions(cells, plan, np.full(plan.roles.shape, 5), classes, KEYS)
    with pytest.raises(InputDataError, match="not in classes"):
        results.test_predictions(cells, plan, np.zeros(plan.roles.shape, int), ["A", "B"], KEYS)


def test_majority_vote_and_ties():
    rows = [
        (0, "x@1", "A", "A"), (0, "x@1", "A", "A"), (0, "x@1", "A", "B"),  # clear A, share 2/3
        (0, "y@1", "B", "C"), (0, "y@1", "B", "B"),                        # tie B/C -> B
        (1, "y@1", "B", "C"), (1, "y@1", "B", "A"), (1, "y@1", "B", "C"),  # C wins
    ]
    votes = majority_vote(hand_predictions(rows))
    assert list(votes.columns) == [*EXPERIMENT_KEYS, "repetition", COMPOUND, TREATMENT, MOA,
                                   "predicted", "n_cells", "vote_share", "correct"]
    assert votes[["repetition", TREATMENT, "predicted", "n_cells", "correct"]].values.tolist() == [
        [0, "x@1", "A", 3, True], [0, "y@1", "B", 2, True], [1, "y@1", "C", 3, False]]
    np.testing.assert_allclose(votes["vote_share"], [2 / 3, 0.5, 2 / 3])


def test_tie_broken_by_mean_probability():
    rows = [(0, "y@1", "B", "B"), (0, "y@1", "B", "C"), (0, "y@1", "B", "C"), (0, "y@1", "B", "B")]
    votes = majority_vote(hand_predictions(rows, probability=[0.4, 0.9, 0.5, 0.4]))
    assert votes["predicted"].tolist() == ["C"]
    assert not votes["correct"].any()


def test_vote_shares():
    rows = [(0, "x@1", "A", "A"), (0, "x@1", "A", "B"), (0, "x@1", "A", "A"), (0, "y@1", "B", "B")]
    table = hand_predictions(rows)
    table["predicted"] = pd.Categorical(table["predicted"], categories=["A", "B", "C"])
    shares = vote_shares(table, by=[TREATMENT])
    assert list(shares.columns) == [TREATMENT, "A", "B", "C", "n_cells"]
    np.testing.assert_allclose(shares[["A", "B", "C"]].to_numpy(), [[2 / 3, 1 / 3, 0], [0, 1, 0]])
    assert shares["n_cells"].tolist() == [3, 1]


def test_accuracies_on_known_input(cells, classes):
    rows = [
        (0, "x@1", "A", "A"), (0, "x@1", "A", "A"), (0, "x@1", "A", "B"),
        (0, "y@1", "B", "C"), (0, "y@1", "B", "C"),
        (0, "z@1", "C", "C"),
        (1, "x@1", "A", "B"), (1, "y@1", "B", "B"), (1, "z@1", "C", "C"),
    ]
    predictions = hand_predictions(rows)
    table = accuracies(majority_vote(predictions), predictions)
    assert list(table.columns) == [*EXPERIMENT_KEYS, "repetition", "treatment_accuracy",
                                   "cell_accuracy", "n_treatments", "n_cells"]
    np.testing.assert_allclose(table["treatment_accuracy"], [2 / 3, 2 / 3])
    np.testing.assert_allclose(table["cell_accuracy"], [3 / 6, 2 / 3])
    assert table["n_treatments"].tolist() == [3, 3] and table["n_cells"].tolist() == [6, 3]
    assert np.isnan(accuracies(majority_vote(predictions), None)["cell_accuracy"]).all()


def test_pipeline_from_plan_to_accuracy(cells, classes):
    """Perfect predictions give accuracy 1 at both levels; categoricals survive the trip."""
    plan = leave_one_compound_out(cells, n_repetitions=2)
    truth = np.repeat(cells[LABEL].to_numpy()[:, None], plan.n_folds, axis=1)
    predictions = results.test_predictions(cells, plan, truth, classes, KEYS)
    votes = majority_vote(predictions)
    assert len(votes) == 2 * cells[TREATMENT].nunique() and votes["correct"].all()
    table = accuracies(votes, predictions)
    assert table["treatment_accuracy"].tolist() == [1.0, 1.0]
    assert table["cell_accuracy"].tolist() == [1.0, 1.0]
    assert table["n_cells"].tolist() == [len(cells)] * 2


def test_missing_column_is_named():
    with pytest.raises(InputDataError, match="predicted"):
        majority_vote(hand_predictions([(0, "x@1", "A", "A")]).drop(columns="predicted"))
