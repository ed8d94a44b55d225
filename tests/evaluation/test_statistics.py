"""Tests against the baseline, intervals, confusion matrices and per-class scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hca_dtl.data.schema import MOA, TREATMENT, InputDataError
from hca_dtl.evaluation.results import EXPERIMENT_KEYS
from hca_dtl.evaluation.statistics import (
    accuracy_interval,
    compare_to_baseline,
    confusion_matrices,
    paired_difference,
    per_class_scores,
)


def accuracy_rows(experiment: str, approach: str, target: str, values: list[float],
                  repetitions: list[int] | None = None) -> pd.DataFrame:
    repetitions = list(range(len(values))) if repetitions is None else repetitions
    mask = "" if approach == "BL" else "[00000011]"
    source = "" if approach == "BL" else "Pset2"
    return pd.DataFrame({"experiment": experiment, "approach": approach, "mask": mask,
                         "source": source, "target": target, "repetition": repetitions,
                         "treatment_accuracy": values})


BL = [0.80, 0.85, 0.83, 0.90]
DTL = [0.84, 0.86, 0.90, 0.91]


def test_paired_and_welch_against_scipy():
    table = pd.concat([
        accuracy_rows("BL Pset1", "BL", "Pset1", BL),
        accuracy_rows("DTL_1 Pset2→Pset1", "DTL_1", "Pset1", DTL),
        accuracy_rows("DTL_2 Pset2→Pset1", "DTL_2", "Pset1", [0.7, 0.75, 0.8], [0, 1, 5]),
        accuracy_rows("BL Pset2", "BL", "Pset2", [0.9]),
        accuracy_rows("DTL_1 Pset1→Pset2", "DTL_1", "Pset2", [0.8]),
        accuracy_rows("DTL_1 all12", "DTL_1", "all12", [0.5, 0.6]),
    ])
    result = compare_to_baseline(table).set_index("experiment")
    assert list(result.reset_index().columns) == [*EXPERIMENT_KEYS, "n", "mean", "sd", "baseline",
                                                  "p_value", "test"]
    dtl = result.loc["DTL_1 Pset2→Pset1"]
    assert dtl["test"] == "paired t-test" and dtl["baseline"] == "BL Pset1"
    assert dtl["p_value"] == pytest.approx(stats.ttest_rel(DTL, BL).pvalue)
    # hand computation: differences 0.04, 0.01, 0.07, 0.01 -> t = mean / (sd / sqrt(n))
    d = np.array(DTL) - np.array(BL)
    t = d.mean() / (d.std(ddof=1) / 2)
    assert dtl["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 3))
    assert dtl["mean"] == pytest.approx(np.mean(DTL)) and dtl["sd"] == pytest.approx(np.std(DTL, ddof=1))
    welch = result.loc["DTL_2 Pset2→Pset1"]
    assert welch["test"] == "Welch t-test"
    assert welch["p_value"] == pytest.approx(stats.ttest_ind([0.7, 0.75, 0.8], BL, equal_var=False).pvalue)
    assert np.isnan(result.loc["BL Pset1", "p_value"]) and result.loc["BL Pset1", "test"] == "baseline"
    assert np.isnan(result.loc["DTL_1 Pset1→Pset2", "p_value"])
    assert "n < 2" in result.loc["DTL_1 Pset1→Pset2", "test"]
    assert result.loc["DTL_1 all12", "baseline"] == "" and "no BL" in result.loc["DTL_1 all12", "test"]


def test_zero_variance_gives_nan():
    table = pd.concat([accuracy_rows("BL Pset1", "BL", "Pset1", BL),
                       accuracy_rows("X", "DTL_1", "Pset1", [b + 0.05 for b in BL])])
    row = compare_to_baseline(table).set_index("experiment").loc["X"]
    assert np.isnan(row["p_value"]) and "zero variance" in row["test"]


def test_several_baselines_for_a_target_are_rejected():
    table = pd.concat([accuracy_rows("BL Pset1", "BL", "Pset1", BL),
                       accuracy_rows("BL Pset1 again", "BL", "Pset1", DTL)])
    with pytest.raises(InputDataError, match="several"):
        compare_to_baseline(table)


def test_paired_difference():
    a, b = pd.Series(DTL, index=[3, 1, 2, 0]), pd.Series(BL[::-1], index=[0, 1, 2, 3])
    result = paired_difference(a, b)
    d = a - b.reindex(a.index)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert result["mean_difference"] == pytest.approx(d.mean())
    assert (result["low"], result["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert result["p_value"] == pytest.approx(stats.ttest_rel(a, b.reindex(a.index)).pvalue)
    with pytest.raises(ValueError, match="same unique seeds"):
        paired_difference(a, b.iloc[:3])
    assert np.isnan(paired_difference(a.iloc[:1], a.iloc[:1])["p_value"])


def test_wilson_interval():
    low, high = accuracy_interval([True] * 8 + [False] * 2)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # textbook Wilson, 8/10
    votes = pd.DataFrame({TREATMENT: ["t1", "t2"] * 2, "correct": [True, False, True, True]})
    # two repetitions of two treatments: p = 3/4 over n = 2 treatments (not 4)
    wide, _ = accuracy_interval(votes)
    narrow, _ = accuracy_interval([True, False, True, True])
    assert wide < narrow
    assert accuracy_interval([True] * 5)[1] == 1.0


def votes_table() -> pd.DataFrame:
    rows = [  # (repetition, true, predicted)
        (0, "A", "A"), (0, "A", "B"), (0, "B", "B"), (0, "C", "A"),
        (1, "A", "A"), (1, "A", "A"), (1, "B", "B"), (1, "C", "C"),
    ]
    table = pd.DataFrame(rows, columns=["repetition", MOA, "predicted"])
    for key, value in zip(EXPERIMENT_KEYS, ("BL Pset1", "BL", "", "", "Pset1")):
        table[key] = value
    return table


def test_confusion_matrices():
    table = confusion_matrices(votes_table(), ["A", "B", "C"])
    assert len(table) == 9 and (table["n_repetitions"] == 2).all()
    counts = table.pivot(index="true", columns="predicted", values="count")
    np.testing.assert_array_equal(counts.to_numpy(), [[3, 1, 0], [0, 2, 0], [1, 0, 1]])
    fractions = table.pivot(index="true", columns="predicted", values="row_fraction")
    np.testing.assert_allclose(fractions.to_numpy(), [[0.75, 0.25, 0], [0, 1, 0], [0.5, 0, 0.5]])
    empty_row = confusion_matrices(votes_table(), ["A", "B", "C", "D"])
    assert empty_row.loc[empty_row["true"] == "D", "row_fraction"].isna().all()
    with pytest.raises(InputDataError, match="'C'"):
        confusion_matrices(votes_table(), ["A", "B"])


def test_per_class_scores_by_hand():
    table = per_class_scores(votes_table(), ["A", "B", "C"]).set_index(MOA)
    # repetition 0: A precision 1/2 recall 1/2; B precision 1/2 recall 1; C precision 0 recall 0
    # repetition 1: all correct -> 1
    np.testing.assert_allclose(table["precision"], [0.75, 0.75, 0.5])
    np.testing.assert_allclose(table["recall"], [0.75, 1.0, 0.5])
    np.testing.assert_allclose(table["f1"], [(0.5 + 1) / 2, (2 / 3 + 1) / 2, 0.5])
    np.testing.assert_allclose(table["precision_sd"], np.std([[0.5, 1], [0.5, 1], [0, 1]], axis=1, ddof=1))
    np.testing.assert_allclose(table["support"], [2, 1, 1])
    assert (table["n_repetitions"] == 2).all()
