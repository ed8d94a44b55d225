"""Statistics of experiments: tests against the baseline, intervals, confusion matrices and
per-MOA precision / recall / F1.

Two tests of each method against the baseline (BL) of its target, with different units:

- **seed variation** (the paper's kind of p-value): every setting of a target uses the same fold
  plan in repetition ``r``, so a setting and BL are paired by repetition — a paired two-sided
  t-test over repetitions (Welch's when they do not share repetitions). Every repetition holds
  out the same compounds, so this measures how much results move between training runs, not
  whether they would hold on other compounds.
- **compounds** (the unit of generalisation in leave-one-compound-out): per held-out compound,
  the method's and BL's correct treatment votes (averaged over repetitions); an exact (or, beyond
  2^16 sign patterns, Monte-Carlo) paired sign-flip permutation test of their summed difference
  and a 95 % paired bootstrap interval over compounds of the treatment-accuracy difference
  (``scipy.stats.permutation_test`` / ``bootstrap``); Holm's correction across every comparison
  of the table (``holm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import precision_recall_fscore_support

from hca_dtl.data.schema import COMPOUND, MOA, TREATMENT, InputDataError

from hca_dtl.evaluation.results import EXPERIMENT_KEYS, PREDICTED, require_columns

KEYS = list(EXPERIMENT_KEYS)


def _by_repetition(table: pd.DataFrame, metric: str, experiment: str) -> pd.Series:
    values = table.set_index("repetition")[metric].astype(float)
    if values.index.has_duplicates:
        raise InputDataError(f"Accuracies table repeats a repetition of experiment {experiment!r}.")
    return values


def _test(values: pd.Series, baseline: pd.Series) -> tuple[float, str]:
    """p-value and test name of ``values`` against ``baseline`` (both indexed by repetition)."""
    if set(values.index) == set(baseline.index):
        if len(values) < 2:
            return np.nan, "paired t-test: n < 2"
        difference = values - baseline.reindex(values.index)
        if difference.std(ddof=1) == 0:
            return np.nan, "paired t-test: zero variance of the differences"
        return float(stats.ttest_rel(values, baseline.reindex(values.index)).pvalue), "paired t-test"
    if len(values) < 2 or len(baseline) < 2:
        return np.nan, "Welch t-test: n < 2"
    if values.std(ddof=1) == 0 and baseline.std(ddof=1) == 0:
        return np.nan, "Welch t-test: zero variance"
    return float(stats.ttest_ind(values, baseline, equal_var=False).pvalue), "Welch t-test"


def compare_to_baseline(
    accuracies: pd.DataFrame,
    votes: pd.DataFrame | None = None,
    baseline_approach: str = "BL",
    metric: str = "treatment_accuracy",
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, SD and both tests against the baseline of the same target, per experiment.

    Args:
        accuracies: Output of ``voting.accuracies`` (one row per experiment and repetition).
        votes: The treatment votes behind them; without them the compound-level columns are NaN.
        baseline_approach: ``approach`` of the baseline; one such experiment per target.
        metric: The column compared over repetitions (a fraction in [0, 1]).
        seed: Seeds the permutation and bootstrap resampling.

    Returns:
        One row per experiment: keys, ``n`` (repetitions), ``mean``, ``sd`` (ddof=1),
        ``baseline`` (its experiment name, ``""`` if the target has none), ``p_seeds`` and
        ``test_seeds`` (over repetitions), ``n_compounds``, ``difference`` (treatment accuracy −
        the baseline's, over the treatments both scored), ``difference_low`` /
        ``difference_high`` (95 % bootstrap interval over compounds), ``p_compounds`` (sign-flip
        permutation test over compounds), ``p_compounds_holm`` (Holm-adjusted over every row
        that has a compound test) and ``test_compounds``. NaN where a test does not apply.
    """
    require_columns(accuracies, [*KEYS, "repetition", metric], "accuracies")
    table = accuracies.astype({k: str for k in KEYS})
    baselines = table[table["approach"] == baseline_approach]
    several = baselines.groupby("target")["experiment"].nunique()
    if (several > 1).any():
        target = several.index[several > 1][0]
        names = sorted(baselines.loc[baselines["target"] == target, "experiment"].unique())
        raise InputDataError(f"Target {target!r} has several {baseline_approach!r} experiments: {names}.")
    by_compound = _correct_by_compound(votes) if votes is not None else None

    rows = []
    for keys, group in table.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, keys))
        values = _by_repetition(group, metric, row["experiment"])
        base = baselines[baselines["target"] == row["target"]]
        compound = {"n_compounds": 0, "difference": np.nan, "difference_low": np.nan,
                    "difference_high": np.nan, "p_compounds": np.nan, "test_compounds": ""}
        if row["approach"] == baseline_approach:
            name, (p_value, test) = row["experiment"], (np.nan, "baseline")
            compound["test_compounds"] = "baseline"
        elif len(base) == 0:
            name, (p_value, test) = "", (np.nan, f"no {baseline_approach} for target {row['target']}")
        else:
            name = base["experiment"].iloc[0]
            p_value, test = _test(values, _by_repetition(base, metric, name))
            if by_compound is not None:
                compound = compound_test(by_compound, row["experiment"], name, seed=seed)
        rows.append({**row, "n": len(values), "mean": values.mean(), "sd": values.std(ddof=1),
                     "baseline": name, "p_seeds": p_value, "test_seeds": test, **compound})
    columns = [*KEYS, "n", "mean", "sd", "baseline", "p_seeds", "test_seeds", "n_compounds",
               "difference", "difference_low", "difference_high", "p_compounds",
               "p_compounds_holm", "test_compounds"]
    result = pd.DataFrame(rows, columns=[c for c in columns if c != "p_compounds_holm"])
    result.insert(columns.index("p_compounds_holm"), "p_compounds_holm", holm(result["p_compounds"]))
    return result[columns]


def _correct_by_compound(votes: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, compound, treatment): the share of repetitions whose vote is correct."""
    require_columns(votes, ["experiment", "repetition", COMPOUND, TREATMENT, "correct"], "treatment votes")
    frame = votes[["experiment", COMPOUND, TREATMENT, "correct"]].astype(
        {"experiment": str, COMPOUND: str, TREATMENT: str, "correct": float})
    return frame.groupby(["experiment", COMPOUND, TREATMENT], sort=True)["correct"].mean().reset_index()


def compound_test(correct: pd.DataFrame, experiment: str, baseline: str, *, seed: int = 0,
                  n_resamples: int = 9999) -> dict[str, Any]:
    """The compound-level comparison of ``experiment`` with ``baseline`` (see the module docstring).

    Args:
        correct: ``_correct_by_compound`` output (both experiments' rows).

    Returns:
        ``n_compounds``, ``difference`` (fraction), ``difference_low``, ``difference_high``,
        ``p_compounds`` and ``test_compounds`` (its description, or why there is none).
    """
    ours = correct[correct["experiment"] == experiment].set_index([COMPOUND, TREATMENT])["correct"]
    theirs = correct[correct["experiment"] == baseline].set_index([COMPOUND, TREATMENT])["correct"]
    both = pd.concat([ours.rename("a"), theirs.rename("b")], axis=1, join="inner")
    per_compound = both.groupby(level=COMPOUND).agg(a=("a", "sum"), b=("b", "sum"), n=("a", "size"))
    result = {"n_compounds": len(per_compound), "difference": np.nan, "difference_low": np.nan,
              "difference_high": np.nan, "p_compounds": np.nan}
    if len(per_compound) < 2:
        return {**result, "test_compounds": "permutation test over compounds: fewer than 2 compounds"}
    a, b, n = (per_compound[c].to_numpy(float) for c in ("a", "b", "n"))
    result["difference"] = float((a - b).sum() / n.sum())
    nonzero = int(np.count_nonzero(a - b))
    if nonzero == 0:
        return {**result, "difference_low": 0.0, "difference_high": 0.0, "p_compounds": 1.0,
                "test_compounds": "permutation test over compounds: identical votes"}

    def summed(x, y, axis=-1):
        return np.sum(x - y, axis=axis)

    exact = 2 ** len(a) <= n_resamples + 1
    test = stats.permutation_test((a, b), summed, permutation_type="samples", vectorized=True,
                                  n_resamples=np.inf if exact else n_resamples,
                                  alternative="two-sided", rng=np.random.default_rng(seed))

    def accuracy_difference(x, y, m, axis=-1):
        return np.sum(x - y, axis=axis) / np.sum(m, axis=axis)

    interval = stats.bootstrap((a, b, n), accuracy_difference, paired=True, vectorized=True,
                               n_resamples=n_resamples, method="percentile",
                               rng=np.random.default_rng(seed)).confidence_interval
    return {**result, "difference_low": float(interval.low), "difference_high": float(interval.high),
            "p_compounds": float(min(test.pvalue, 1.0)),
            "test_compounds": ("exact" if exact else f"Monte-Carlo ({n_resamples})")
            + " paired sign-flip permutation test over compounds; bootstrap 95 % interval"}


def paired_compound_test(votes: pd.DataFrame, experiment: str, other: str, *,
                         seed: int = 0) -> dict[str, Any]:
    """``compound_test`` of two experiments of one treatment votes table (same treatments)."""
    both = votes[votes["experiment"].astype(str).isin([experiment, other])]
    return compound_test(_correct_by_compound(both), experiment, other, seed=seed)


def holm(p_values: Sequence[float] | pd.Series) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN left out of the family and
    kept NaN): the k-th smallest of m is multiplied by m − k + 1, then made monotone, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def accuracy_interval(votes: pd.DataFrame | Sequence[bool], confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a treatment-level accuracy.

    Args:
        votes: Treatment votes of one experiment (column ``correct``), or the booleans. With
            several repetitions the accuracy is their mean and n the number of distinct
            treatments (repetitions share their treatments; they are not independent draws).

    Returns:
        ``(low, high)`` fractions in [0, 1].
    """
    if isinstance(votes, pd.DataFrame):
        require_columns(votes, ["correct"], "treatment votes")
        correct = votes["correct"].to_numpy(dtype=float)
        n = votes[TREATMENT].nunique() if TREATMENT in votes.columns else len(votes)
    else:
        correct = np.asarray(votes, dtype=float)
        n = len(correct)
    if n == 0:
        raise ValueError("accuracy_interval needs at least one vote.")
    p = correct.mean()
    z = stats.norm.ppf(0.5 + confidence / 2)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def _check_labels(votes: pd.DataFrame, classes: Sequence[str]) -> None:
    for column in (MOA, PREDICTED):
        unknown = sorted(set(votes[column].astype(str)) - set(classes))
        if unknown:
            raise InputDataError(
                f"Treatment votes column {column!r} holds {unknown[0]!r}, not in classes {list(classes)}."
            )


def confusion_matrices(treatment_votes: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Treatment-level confusion matrix of every experiment, summed over repetitions (Figure 4).

    Returns:
        Long table, every (true, predicted) pair of ``classes`` per experiment: keys, ``true``,
        ``predicted``, ``count`` (treatments, summed over repetitions), ``n_repetitions`` and
        ``row_fraction`` (count / row total; NaN for an empty row).
    """
    require_columns(treatment_votes, [*KEYS, "repetition", MOA, PREDICTED], "treatment votes")
    _check_labels(treatment_votes, classes)
    grid = pd.MultiIndex.from_product([list(classes), list(classes)], names=["true", "predicted"])
    parts = []
    for keys, group in treatment_votes.astype({k: str for k in KEYS}).groupby(KEYS, sort=False):
        counts = (
            group.groupby([group[MOA].astype(str).rename("true"), group[PREDICTED].astype(str)])
            .size()
            .reindex(grid, fill_value=0)
            .rename("count")
            .reset_index()
        )
        row_total = counts.groupby("true")["count"].transform("sum")
        counts["n_repetitions"] = group["repetition"].nunique()
        counts["row_fraction"] = counts["count"] / row_total.where(row_total > 0)
        parts.append(counts.assign(**dict(zip(KEYS, keys))))
    columns = [*KEYS, "true", "predicted", "count", "n_repetitions", "row_fraction"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def per_class_scores(treatment_votes: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Treatment-level precision, recall, F1 and support per MOA (Suppl. Table S3).

    Scores are computed per repetition (scikit-learn, ``zero_division=0``), then averaged.

    Returns:
        One row per (experiment, MOA): keys, ``Metadata_MOA``, ``precision``, ``recall``,
        ``f1`` (means over repetitions) with ``precision_sd``, ``recall_sd``, ``f1_sd``
        (ddof=1; NaN for one repetition), ``support`` (treatments per repetition, mean) and
        ``n_repetitions``.
    """
    require_columns(treatment_votes, [*KEYS, "repetition", MOA, PREDICTED], "treatment votes")
    _check_labels(treatment_votes, classes)
    rows = []
    votes = treatment_votes.astype({k: str for k in KEYS})
    for keys, group in votes.groupby([*KEYS, "repetition"], sort=False):
        scores = precision_recall_fscore_support(
            group[MOA].astype(str), group[PREDICTED].astype(str), labels=list(classes),
            zero_division=0,
        )
        for moa, precision, recall, f1, support in zip(classes, *scores):
            rows.append({**dict(zip([*KEYS, "repetition"], keys)), MOA: moa, "precision": precision,
                         "recall": recall, "f1": f1, "support": support})
    columns = [*KEYS, MOA, "precision", "precision_sd", "recall", "recall_sd", "f1", "f1_sd",
               "support", "n_repetitions"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows).groupby([*KEYS, MOA], sort=False)
    summary = table[["precision", "recall", "f1", "support"]].mean()
    for metric in ("precision", "recall", "f1"):
        summary[f"{metric}_sd"] = table[metric].std(ddof=1)
    summary["n_repetitions"] = table.size()
    return summary.reset_index()[columns]
