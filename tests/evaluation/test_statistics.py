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
    compound_test,
    confusion_matrices,
    holm,
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
    assert list(result.reset_index().columns)[:11] == [*EXPERIMENT_KEYS, "n", "mean", "sd",
                                                       "baseline", "p_seeds", "test_seeds"]
    dtl = result.loc["DTL_1 Pset2→Pset1"]
    assert dtl["test_seeds"] == "paired t-test" and dtl["baseline"] == "BL Pset1"
    assert dtl["p_seeds"] == pytest.approx(stats.ttest_rel(DTL, BL).pvalue)
    # hand computation: differences 0.04, 0.01, 0.07, 0.01 -> t = mean / (sd / sqrt(n))
    d = np.array(DTL) - np.array(BL)
    t = d.mean() / (d.std(ddof=1) / 2)
    assert dtl["p_seeds"] == pytest.approx(2 * stats.t.sf(abs(t), 3))
    assert dtl["mean"] == pytest.approx(np.mean(DTL)) and dtl["sd"] == pytest.approx(np.std(DTL, ddof=1))
    welch = result.loc["DTL_2 Pset2→Pset1"]
    assert welch["test_seeds"] == "Welch t-test"
    assert welch["p_seeds"] == pytest.approx(stats.ttest_ind([0.7, 0.75, 0.8], BL, equal_var=False).pvalue)
    assert np.isnan(result.loc["BL Pset1", "p_seeds"]) and result.loc["BL Pset1", "test_seeds"] == "baseline"
    assert np.isnan(result.loc["DTL_1 Pset1→Pset2", "p_seeds"])
    assert "n < 2" in result.loc["DTL_1 Pset1→Pset2", "test_seeds"]
    assert result.loc["DTL_1 all12", "baseline"] == "" and "no BL" in result.loc["DTL_1 all12", "test_seeds"]


def test_zero_variance_gives_nan():
    table = pd.concat([accuracy_rows("BL Pset1", "BL", "Pset1", BL),
                       accuracy_rows("X", "DTL_1", "Pset1", [b + 0.05 for b in BL])])
    row = compare_to_baseline(table).set_index("experiment").loc["X"]
    assert np.isnan(row["p_seeds"]) and "zero variance" in row["test_seeds"]


def test_several_baselines_for_a_target_are_rejected():
    table = pd.concat([accuracy_rows("BL Pset1", "BL", "Pset1", BL),
                       accuracy_rows("BL Pset1 again", "BL", "Pset1", DTL)])
    with pytest.raises(InputDataError, match="several"):
        compare_to_baseline(table)


def votes_of(experiment: str, approach: str, correct: dict[str, list[bool]],
             repetitions: int = 1) -> pd.DataFrame:
    """Treatment votes: compound -> correctness of its treatments (``<compound>@<i>``)."""
    rows = [{"experiment": experiment, "approach": approach, "mask": "", "source": "",
             "target": "Pset1", "repetition": r, "Metadata_Compound": compound,
             TREATMENT: f"{compound}@{i}", "correct": ok}
            for r in range(repetitions) for compound, oks in correct.items() for i, ok in enumerate(oks)]
    return pd.DataFrame(rows)


def test_compound_test_is_exact_and_paired():
    # Six compounds; the method is right where BL is wrong on compounds c0..c3 (one treatment
    # each), wrong where BL is right on c4: per-compound differences +1 +1 +1 +1 -1 0.
    bl = {f"c{i}": [False, True] for i in range(4)} | {"c4": [True], "c5": [True, False]}
    ours = {f"c{i}": [True, True] for i in range(4)} | {"c4": [False], "c5": [True, False]}
    correct = pd.concat([votes_of("BL", "BL", bl), votes_of("X", "X", ours)])
    from hca_dtl.evaluation.statistics import _correct_by_compound
    result = compound_test(_correct_by_compound(correct), "X", "BL", seed=0)
    assert result["n_compounds"] == 6
    assert result["difference"] == pytest.approx(3 / 11)  # (4 - 1) treatments of 11
    # Exact sign-flip test: |sum| >= 3 among the 2^5 sign patterns of (1, 1, 1, 1, -1) (the zero
    # compound flips to itself): sums 5, 3 (x5), -3 (x5), -5 -> 12 of 32, both sides.
    assert result["p_compounds"] == pytest.approx(12 / 32)
    assert "exact" in result["test_compounds"]
    assert result["difference_low"] <= result["difference"] <= result["difference_high"]
    same = compound_test(_correct_by_compound(pd.concat([votes_of("BL", "BL", bl),
                                                         votes_of("Y", "Y", bl)])), "Y", "BL")
    assert same["p_compounds"] == 1.0 and same["difference"] == 0.0


def test_compound_columns_and_holm_in_the_comparison_table():
    bl = {f"c{i}": [False] for i in range(8)}
    strong = {f"c{i}": [True] for i in range(8)}
    weak = {f"c{i}": [i < 2] for i in range(8)}
    votes = pd.concat([votes_of("BL Pset1", "BL", bl, 2), votes_of("S", "DTL_1", strong, 2),
                       votes_of("W", "DTL_2", weak, 2)])
    accuracy = votes.groupby([*EXPERIMENT_KEYS, "repetition"])["correct"].mean().rename(
        "treatment_accuracy").reset_index()
    result = compare_to_baseline(accuracy, votes).set_index("experiment")
    assert result.loc["S", "p_compounds"] == pytest.approx(2 / 256)  # all 8 compounds better
    assert result.loc["S", "difference"] == pytest.approx(1.0)
    raw = result[["p_compounds"]].dropna()
    np.testing.assert_allclose(result["p_compounds_holm"].dropna(), holm(raw["p_compounds"]))
    assert np.isnan(result.loc["BL Pset1", "p_compounds"])


def test_holm_by_hand():
    adjusted = holm([0.01, 0.04, np.nan, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.09, 0.09 (monotone), 0.5
    np.testing.assert_allclose(adjusted, [0.04, 0.09, np.nan, 0.09, 0.5])


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
