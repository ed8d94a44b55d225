"""From cell predictions to treatment calls: the paper's majority vote, and accuracies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hca_dtl.data.schema import COMPOUND, MOA, TREATMENT

from hca_dtl.evaluation.results import EXPERIMENT_KEYS, PREDICTED, PROBABILITY, require_columns

VOTE_KEYS = (*EXPERIMENT_KEYS, "repetition")


def same_label(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise ``a == b`` (n,) bool for label columns, categorical or not."""
    if (
        isinstance(a.dtype, pd.CategoricalDtype)
        and isinstance(b.dtype, pd.CategoricalDtype)
        and list(a.cat.categories) == list(b.cat.categories)
    ):
        return (a.cat.codes.to_numpy() == b.cat.codes.to_numpy()) & (a.cat.codes.to_numpy() >= 0)
    return np.asarray(a, dtype=object) == np.asarray(b, dtype=object)


def vote(cell_predictions: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The paper's majority vote: the class most of each group's cells were given.

    The one tie-break of the project: among tied classes, the one whose voting cells have the
    highest mean ``probability`` (when that column is present), then the alphabetically first
    class name — deterministic.

    Args:
        cell_predictions: One row per cell, with the ``by`` columns and ``predicted``.
        by: The columns that make a group (e.g. a treatment).

    Returns:
        One row per group: the ``by`` columns (as ``str``, except ``repetition``), ``predicted``
        (str), ``votes`` (cells voting for it), ``n_cells`` and ``vote_share``; groups in their
        order of first appearance.
    """
    by = list(by)
    require_columns(cell_predictions, [*by, PREDICTED], "cell predictions")
    by_class = cell_predictions.groupby([*by, PREDICTED], observed=True, sort=False, dropna=False)
    counts = by_class.size().rename("votes").to_frame()
    tie_break = ["votes"]
    if PROBABILITY in cell_predictions.columns:
        counts[PROBABILITY] = by_class[PROBABILITY].mean()
        tie_break.append(PROBABILITY)
    counts = counts.reset_index()
    for column in [*by, PREDICTED]:
        if column != "repetition":
            counts[column] = counts[column].astype(str)
    counts["n_cells"] = counts.groupby(by, sort=False)["votes"].transform("sum")
    counts = counts.sort_values(
        [*tie_break, PREDICTED], ascending=[False] * len(tie_break) + [True], kind="stable"
    )
    winners = counts.drop_duplicates(by, keep="first").copy()
    winners["vote_share"] = winners["votes"] / winners["n_cells"]
    return winners[[*by, PREDICTED, "votes", "n_cells", "vote_share"]]


def majority_vote(cell_predictions: pd.DataFrame) -> pd.DataFrame:
    """The MOA call of each treatment of every experiment and repetition (``vote``).

    Args:
        cell_predictions: The long table of ``results.test_predictions`` (any number of
            experiments and repetitions).

    Returns:
        The *treatment votes*: one row per (experiment, repetition, treatment) with the keys,
        ``repetition``, ``Metadata_Compound``, ``Metadata_Treatment``, ``Metadata_MOA``,
        ``predicted``, ``n_cells``, ``vote_share`` (fraction of the cells voting for the call)
        and ``correct``; strings as ``str``, sorted by keys, repetition and treatment.
    """
    group = [*VOTE_KEYS, COMPOUND, TREATMENT, MOA]
    votes = vote(cell_predictions, group)
    votes["correct"] = votes[PREDICTED] == votes[MOA]
    votes = votes.sort_values([*VOTE_KEYS, TREATMENT], kind="stable").reset_index(drop=True)
    return votes[[*group[:-2], TREATMENT, MOA, PREDICTED, "n_cells", "vote_share", "correct"]]


def vote_shares(cell_predictions: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Share of each predicted class among the cells of each group (e.g. a treatment or well).

    Returns:
        One row per group: the ``by`` columns, one column per class (fraction in [0, 1]; every
        category when ``predicted`` is categorical) and ``n_cells``.
    """
    by = list(by)
    require_columns(cell_predictions, [*by, PREDICTED], "cell predictions")
    counts = (
        cell_predictions.groupby([*by, PREDICTED], observed=True, dropna=False)
        .size()
        .unstack(PREDICTED, fill_value=0)
    )
    predicted = cell_predictions[PREDICTED]
    if isinstance(predicted.dtype, pd.CategoricalDtype):
        counts = counts.reindex(columns=predicted.cat.categories, fill_value=0)
    counts.columns = [str(c) for c in counts.columns]
    n_cells = counts.sum(axis=1)
    shares = counts.div(n_cells, axis=0)
    shares["n_cells"] = n_cells
    return shares.reset_index()


def accuracies(treatment_votes: pd.DataFrame, cell_predictions: pd.DataFrame | None) -> pd.DataFrame:
    """Treatment-level accuracy (the paper's number) and cell-level accuracy per repetition.

    Args:
        treatment_votes: Output of ``majority_vote`` (or ``baselines.nsc_nearest_neighbour``).
        cell_predictions: The cells behind the votes; experiments absent from it (or ``None``)
            get ``cell_accuracy`` NaN.

    Returns:
        One row per (experiment, repetition): keys, ``repetition``, ``treatment_accuracy``,
        ``cell_accuracy`` (fractions in [0, 1]), ``n_treatments`` and ``n_cells`` (the cells
        behind the votes).
    """
    require_columns(treatment_votes, [*VOTE_KEYS, "correct", "n_cells"], "treatment votes")
    keys = list(VOTE_KEYS)
    table = (
        treatment_votes.groupby(keys, observed=True, dropna=False)
        .agg(
            treatment_accuracy=("correct", "mean"),
            n_treatments=("correct", "size"),
            n_cells=("n_cells", "sum"),
        )
        .reset_index()
    )
    table = _as_str(table, keys)
    table["cell_accuracy"] = np.nan
    if cell_predictions is not None and len(cell_predictions):
        require_columns(cell_predictions, [*keys, MOA, PREDICTED], "cell predictions")
        correct = pd.Series(
            same_label(cell_predictions[PREDICTED], cell_predictions[MOA]), index=cell_predictions.index
        )
        cells = correct.groupby([cell_predictions[k] for k in keys], observed=True, dropna=False).mean()
        cells = _as_str(cells.rename("cell_accuracy").reset_index(), keys)
        table = table.drop(columns="cell_accuracy").merge(cells, on=keys, how="left")
    table["treatment_accuracy"] = table["treatment_accuracy"].astype(float)
    return table[[*keys, "treatment_accuracy", "cell_accuracy", "n_treatments", "n_cells"]]


def _as_str(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Experiment keys as ``str`` and repetition as int, so tables merge across dtypes."""
    table = table.copy()
    for key in keys:
        table[key] = table[key].astype(int) if key == "repetition" else table[key].astype(str)
    return table
