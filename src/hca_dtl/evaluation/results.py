"""The long *cell predictions* table: one row per test cell of every fold of an experiment.

An experiment (a row of the paper's Table 1) is identified by ``EXPERIMENT_KEYS``; every result
table (cell predictions, treatment votes, accuracies, runs, comparisons) starts with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hca_dtl.data.schema import COMPOUND, MOA, ROLE_TEST, TREATMENT, InputDataError

from hca_dtl.evaluation.loocv import FoldPlan

EXPERIMENT_KEYS = ("experiment", "approach", "mask", "source", "target")
PREDICTED = "predicted"
PROBABILITY = "probability"
OUT_OF_RANGE = "out_of_range"  # predictions of new exports: beyond the training range


def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raises ``InputDataError`` naming the table and the columns it lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputDataError(f"The {name} table lacks the column(s) {missing}.")


def _constant(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def _take(column: pd.Series, rows: np.ndarray) -> pd.Categorical:
    """``column[rows]`` as a categorical of strings, encoded once per cell rather than per row."""
    encoded = pd.Categorical(column.astype(str))
    return pd.Categorical.from_codes(encoded.codes[rows], categories=encoded.categories)


def test_predictions(
    cells: pd.DataFrame,
    plan: FoldPlan,
    predicted: np.ndarray,
    classes: Sequence[str],
    experiment: Mapping[str, str],
    probabilities: np.ndarray | None = None,
) -> pd.DataFrame:
    """The cell predictions of an experiment: each fold's TEST cells and their predicted MOA.

    Args:
        cells: The problem table the plan was made on (n_cells rows, ``Metadata_Compound``,
            ``Metadata_Treatment``, ``Metadata_MOA``).
        plan: Fold plan (roles: n_cells × n_folds).
        predicted: Predicted label code of every cell in every fold (n_cells, n_folds) int;
            only TEST entries are used.
        classes: MOA name of each label code.
        experiment: The ``EXPERIMENT_KEYS`` values of this experiment.
        probabilities: Optional (n_cells, n_folds) probability of the predicted class; kept as
            column ``probability`` (breaks vote ties in ``majority_vote``).

    Returns:
        One row per (fold, test cell), ordered by fold then cell: the experiment keys,
        ``repetition``, ``fold`` (the plan's ``fold_ids``), ``held_out``, ``Metadata_Compound``, ``Metadata_Treatment``,
        ``Metadata_MOA`` (true), ``predicted`` (and ``probability``). Strings are categoricals;
        ``Metadata_MOA`` and ``predicted`` share the categories ``classes``.
    """
    require_columns(cells, [COMPOUND, TREATMENT, MOA], "cells")
    missing = [k for k in EXPERIMENT_KEYS if k not in experiment]
    if missing:
        raise ValueError(f"experiment lacks the key(s) {missing}.")
    if predicted.shape != plan.roles.shape:
        raise ValueError(
            f"predicted has shape {predicted.shape}, the fold plan's roles {plan.roles.shape}."
        )
    if probabilities is not None and probabilities.shape != plan.roles.shape:
        raise ValueError(
            f"probabilities has shape {probabilities.shape}, the fold plan's roles {plan.roles.shape}."
        )
    cell, fold = np.nonzero(plan.roles.T == ROLE_TEST)[::-1]
    codes = np.asarray(predicted)[cell, fold]
    if len(codes) and (codes.min() < 0 or codes.max() >= len(classes)):
        raise ValueError(
            f"predicted holds codes outside 0..{len(classes) - 1}: {codes.min()}..{codes.max()}."
        )
    true = pd.Categorical(cells[MOA].astype(str), categories=list(classes))[cell]
    if np.any(true.codes < 0):
        unknown = cells[MOA].astype(str).to_numpy()[cell][true.codes < 0][0]
        raise InputDataError(
            f"cells column {MOA!r} holds {unknown!r}, which is not in classes {list(classes)}."
        )

    n = len(cell)
    table = pd.DataFrame({key: _constant(str(experiment[key]), n) for key in EXPERIMENT_KEYS})
    table["repetition"] = plan.repetitions[fold].astype(np.int32)
    table["fold"] = np.asarray(plan.fold_ids)[fold].astype(np.int32)
    table["held_out"] = pd.Categorical(np.asarray(plan.compounds, dtype=object)[fold])
    table[COMPOUND] = _take(cells[COMPOUND], cell)
    table[TREATMENT] = _take(cells[TREATMENT], cell)
    table[MOA] = true
    table[PREDICTED] = pd.Categorical.from_codes(codes.astype(np.int32), categories=list(classes))
    if probabilities is not None:
        table[PROBABILITY] = np.asarray(probabilities, dtype=np.float32)[cell, fold]
    return table


test_predictions.__test__ = False  # not a pytest test, despite its name
