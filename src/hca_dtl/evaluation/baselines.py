"""Non-neural baselines under the same leave-one-compound-out folds as the SAA.

Cell classifiers (the paper's Table 2): a linear SVM, an RBF SVM and multinomial logistic
regression, each standardised on the fold's TRAIN cells, with hyperparameters chosen by cell
accuracy on the fold's VALID cells (never TEST). And the classic profiling baseline of
Ljosa et al. 2013: nearest-neighbour treatment profiles, not-same-compound (NSC) and
not-same-compound-or-batch (NSCB).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    MOA,
    ROLE_TRAIN,
    ROLE_VALID,
    TREATMENT,
    InputDataError,
)

from hca_dtl.evaluation.protocol import DEFAULTS
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, require_columns

logger = logging.getLogger(__name__)

def _estimator(name: str, point: Mapping[str, Any], n_train: int, seed: int):
    """The unfitted estimator of method ``name`` at one setting ``point`` (scalars)."""
    if name == "svm_linear":
        # Hinge loss by averaged SGD, C = 1 / (alpha · n): 1.7-3× faster than LinearSVC
        # (liblinear) on 20,000 synthetic cells × 453 features, 6 classes, at equal validation
        # accuracy; one-vs-rest, where the paper's SVMmulticlass is Crammer-Singer.
        return SGDClassifier(loss="hinge", alpha=1.0 / (point["C"] * n_train),
                             max_iter=point["epochs"], tol=None, average=True, random_state=seed)
    if name == "svm_rbf":
        return SVC(kernel="rbf", C=point["C"], gamma=point["gamma"], random_state=seed)
    if name == "logistic_regression":
        return LogisticRegression(C=point["C"], max_iter=point["max_iter"], random_state=seed)
    raise ValueError(f"Unknown baseline {name!r}; choose one of {sorted(DEFAULTS)}.")


@dataclass
class FoldFit:
    """A baseline fitted on one fold: the TRAIN-cell standardiser and the classifier."""

    mean: np.ndarray  # (n_features,) of the TRAIN cells
    scale: np.ndarray  # (n_features,) SD of the TRAIN cells (1 where constant)
    estimator: Any  # fitted scikit-learn classifier, or None if TRAIN holds one class
    constant: int  # the single TRAIN class when ``estimator`` is None
    valid_accuracy: float  # cell accuracy on VALID (NaN without VALID)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Label codes (n,) of cells ``x`` (n, n_features)."""
        if self.estimator is None:
            return np.full(len(x), self.constant, dtype=np.int64)
        return self.estimator.predict((x - self.mean) / self.scale).astype(np.int64)


def fit_fold(name: str, x: np.ndarray, y: np.ndarray, role: np.ndarray,
             point: Mapping[str, Any], seed: int) -> FoldFit:
    """Fits baseline ``name`` at one setting ``point`` on one fold: standardise on TRAIN, fit on
    (a seeded subsample of) TRAIN, score the cell accuracy on VALID.

    Args:
        x: Features (n_cells, n_features); y: label codes (n_cells,); role: the fold's roles.
        point: ``baseline_options`` with scalar hyperparameters (one candidate).
    """
    train, valid = np.flatnonzero(role == ROLE_TRAIN), np.flatnonzero(role == ROLE_VALID)
    if len(train) == 0:
        raise InputDataError("A fold has no TRAIN cells: nothing to fit the baseline on.")
    mean = x[train].mean(axis=0)
    scale = x[train].std(axis=0)
    scale[scale == 0] = 1.0
    rng = np.random.default_rng(seed)
    n_fit = max(int(round(point["train_fraction"] * len(train))), point["min_train_cells"])
    n_fit = min(n_fit, len(train), point["max_train_cells"] or len(train))
    fit = np.sort(rng.choice(train, size=n_fit, replace=False)) if n_fit < len(train) else train
    if len(np.unique(y[fit])) < 2:
        return FoldFit(mean, scale, None, int(y[fit][0]), np.nan)
    estimator = _estimator(name, point, len(fit), seed)
    # One BLAS thread: a fold's fit is small, and threads fighting for busy cores made logistic
    # regression 8-13x slower (100 to 20,000 cells x 456 features; docs/performance.md).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit((x[fit] - mean) / scale, y[fit])
        accuracy = (float(np.mean(estimator.predict((x[valid] - mean) / scale) == y[valid]))
                    if len(valid) else np.nan)
    return FoldFit(mean, scale, estimator, -1, accuracy)


def _profiles(cells: pd.DataFrame, features: Sequence[str], profile: str) -> pd.DataFrame:
    if profile not in ("median", "mean"):
        raise ValueError(f"profile must be 'median' or 'mean', got {profile!r}.")
    grouped = cells.groupby(TREATMENT, sort=True, observed=True)
    about = pd.DataFrame({COMPOUND: grouped[COMPOUND].first().astype(str),
                          MOA: grouped[MOA].first().astype(str), "n_cells": grouped.size()})
    return pd.concat([grouped[list(features)].agg(profile), about], axis=1)


def nsc_nearest_neighbour(
    cells: pd.DataFrame,
    features: Sequence[str],
    *,
    hold_out_batch: bool = False,
    profile: str = "median",
    experiment: Mapping[str, str] | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """The classic BBBC021 protocol (Ljosa et al. 2013): 1-nearest-neighbour treatment profiles.

    Each treatment's profile is the ``profile`` (median or mean) of its rows (cells or wells);
    it is assigned the MOA of the most cosine-similar other treatment, never one of the same
    compound (NSC) and, with ``hold_out_batch`` (NSCB), never one sharing a batch with it.
    Treatments with no admissible neighbour at all are dropped (logged); those whose own MOA
    has no admissible neighbour are kept, flagged ``moa_reachable = False`` and logged.

    Args:
        cells: Cells or well profiles with ``Metadata_Treatment``, ``Metadata_Compound``,
            ``Metadata_MOA``, the ``features`` and, for NSCB, ``Metadata_Batch``.
        experiment: The ``EXPERIMENT_KEYS`` values; default approach ``NSC``/``NSCB``.
        warn: Log treatments without an admissible neighbour (else only at DEBUG level).

    Returns:
        The treatment votes table (repetition 0, ``n_cells`` = rows in the profile,
        ``vote_share`` 1.0) plus ``moa_reachable``.
    """
    require_columns(cells, [TREATMENT, COMPOUND, MOA, *features, *([BATCH] if hold_out_batch else [])],
                    "cells")
    approach = "NSCB" if hold_out_batch else "NSC"
    experiment = dict(experiment or dict(zip(EXPERIMENT_KEYS, (approach, approach, "", "", ""))))
    table = _profiles(cells, features, profile)
    vectors = table[list(features)].to_numpy(dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = (vectors / np.where(norms == 0, 1, norms)) @ (vectors / np.where(norms == 0, 1, norms)).T

    compound = table[COMPOUND].to_numpy()
    admissible = compound[:, None] != compound[None, :]
    if hold_out_batch:
        batches = cells.groupby(TREATMENT, sort=True, observed=True)[BATCH].agg(lambda b: set(b.astype(str)))
        sets = batches.reindex(table.index).tolist()
        admissible &= np.array([[not (a & b) for b in sets] for a in sets], dtype=bool)
    moa = table[MOA].to_numpy()
    reachable = (admissible & (moa[:, None] == moa[None, :])).any(axis=1)
    has_neighbour = admissible.any(axis=1)
    neighbour = np.where(admissible, similarity, -np.inf).argmax(axis=1)

    level = logging.WARNING if warn else logging.DEBUG
    if not has_neighbour.all():
        logger.log(level, "%s: %d treatment(s) have no admissible neighbour and are dropped: %s", approach,
                       int((~has_neighbour).sum()), ", ".join(table.index[~has_neighbour][:5]))
    if not reachable.all():
        logger.log(level, "%s: %d of %d treatments have no admissible neighbour of their own MOA "
                       "(they cannot be classified correctly).", approach,
                       int((~reachable).sum()), len(table))
    votes = pd.DataFrame({
        **{k: experiment[k] for k in EXPERIMENT_KEYS},
        "repetition": 0,
        COMPOUND: compound,
        TREATMENT: table.index.astype(str),
        MOA: moa,
        "predicted": moa[neighbour],
        "n_cells": table["n_cells"].to_numpy(),
        "vote_share": 1.0,
    })
    votes["correct"] = votes["predicted"] == votes[MOA]
    votes["moa_reachable"] = reachable
    return votes[has_neighbour].reset_index(drop=True)
