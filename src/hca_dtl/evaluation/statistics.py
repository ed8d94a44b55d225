"""Statistics of experiments: tests against the baseline, intervals, confusion matrices and
per-MOA precision / recall / F1.

The paper reports a p-value of each DTL setting against BL over 10 repetitions without naming
its test. Ours: every setting of a target uses the same fold plan and seed in repetition ``r``,
so a setting and its baseline are *paired* by repetition — a paired two-sided t-test over the
repetitions when both have the same repetition indices, else Welch's two-sided t-test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import precision_recall_fscore_support

from hca_dtl.data.schema import MOA, TREATMENT, InputDataError

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
    accuracies: pd.DataFrame, baseline_approach: str = "BL", metric: str = "treatment_accuracy"
) -> pd.DataFrame:
    """Mean, SD and the p-value against the baseline of the same target, per experiment.

    Args:
        accuracies: Output of ``voting.accuracies`` (one row per experiment and repetition).
        baseline_approach: ``approach`` of the baseline; one such experiment per target.
        metric: The column compared (a fraction in [0, 1]).

    Returns:
        One row per experiment: keys, ``n`` (repetitions), ``mean``, ``sd`` (ddof=1),
        ``baseline`` (its experiment name, ``""`` if the target has none), ``p_value``
        (two-sided; NaN for the baseline itself, without a baseline, for n < 2 or zero variance)
        and ``test`` (the test used, or why there is none).
    """
    require_columns(accuracies, [*KEYS, "repetition", metric], "accuracies")
    table = accuracies.astype({k: str for k in KEYS})
    baselines = table[table["approach"] == baseline_approach]
    several = baselines.groupby("target")["experiment"].nunique()
    if (several > 1).any():
        target = several.index[several > 1][0]
        names = sorted(baselines.loc[baselines["target"] == target, "experiment"].unique())
        raise InputDataError(f"Target {target!r} has several {baseline_approach!r} experiments: {names}.")

    rows = []
    for keys, group in table.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, keys))
        values = _by_repetition(group, metric, row["experiment"])
        base = baselines[baselines["target"] == row["target"]]
        if row["approach"] == baseline_approach:
            name, (p_value, test) = row["experiment"], (np.nan, "baseline")
        elif len(base) == 0:
            name, (p_value, test) = "", (np.nan, f"no {baseline_approach} for target {row['target']}")
        else:
            name = base["experiment"].iloc[0]
            p_value, test = _test(values, _by_repetition(base, metric, name))
        rows.append({**row, "n": len(values), "mean": values.mean(), "sd": values.std(ddof=1),
                     "baseline": name, "p_value": p_value, "test": test})
    return pd.DataFrame(rows, columns=[*KEYS, "n", "mean", "sd", "baseline", "p_value", "test"])


def paired_difference(a: pd.Series, b: pd.Series, confidence: float = 0.95) -> dict[str, float]:
    """Mean of ``a - b`` over the same seeds (index), its t-interval and two-sided p-value.

    Returns:
        ``n``, ``mean_difference``, ``sd`` (ddof=1), ``low``, ``high`` and ``p_value`` (paired
        t-test). With n < 2 the interval and p-value are NaN; with zero variance the interval
        is the point and the p-value NaN.
    """
    if set(a.index) != set(b.index) or a.index.has_duplicates:
        raise ValueError(
            f"paired_difference needs the same unique seeds in both series; got {sorted(a.index)} "
            f"and {sorted(b.index)}."
        )
    difference = a.astype(float) - b.reindex(a.index).astype(float)
    n, mean = len(difference), float(difference.mean())
    sd = float(difference.std(ddof=1)) if n >= 2 else np.nan
    if n < 2:
        low = high = p_value = np.nan
    elif sd == 0:
        low = high = mean
        p_value = np.nan
    else:
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
        low, high = mean - half, mean + half
        p_value = float(stats.ttest_rel(a, b.reindex(a.index)).pvalue)
    return {"n": n, "mean_difference": mean, "sd": sd, "low": float(low), "high": float(high),
            "p_value": p_value}


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
