"""Non-neural baselines under the same leave-one-compound-out folds as the SAA.

Cell classifiers (the paper's Table 2): a linear SVM, an RBF SVM and multinomial logistic
regression, each standardised on the fold's TRAIN cells, with hyperparameters chosen by cell
accuracy on the fold's VALID cells (never TEST). And the classic profiling baseline of
Ljosa et al. 2013: nearest-neighbour treatment profiles, not-same-compound (NSC) and
not-same-compound-or-batch (NSCB).
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import SVC
from tqdm.auto import tqdm

from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    LABEL,
    MOA,
    ROLE_TEST,
    ROLE_TRAIN,
    ROLE_VALID,
    TREATMENT,
    InputDataError,
)

from hca_dtl.evaluation.loocv import FoldPlan
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, require_columns, test_predictions

logger = logging.getLogger(__name__)

# Grids: the paper's ranges (linear C 0.001…50,000; RBF C 1…1000, gamma 0.001…0.00001, 1 % of
# the training cells). ``train_fraction`` / ``min_train_cells`` / ``max_train_cells`` bound a
# seeded subsample of each fold's TRAIN cells (None: no upper bound).
DEFAULTS: dict[str, dict[str, Any]] = {
    "svm_linear": {"C": [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000, 50000], "epochs": 20,
                   "train_fraction": 1.0, "min_train_cells": 0, "max_train_cells": None},
    "svm_rbf": {"C": [1, 10, 100, 1000], "gamma": [0.001, 0.0001, 0.00001],
                "train_fraction": 0.01, "min_train_cells": 500, "max_train_cells": 2000},
    "logistic_regression": {"C": [0.001, 0.01, 0.1, 1, 10, 100], "max_iter": 500,
                            "train_fraction": 1.0, "min_train_cells": 0, "max_train_cells": None},
}


def _estimators(name: str, params: Mapping[str, Any], n_train: int, seed: int):
    """(hyperparameters, unfitted estimator) for every grid point of method ``name``."""
    if name == "svm_linear":
        # Hinge loss by averaged SGD, C = 1 / (alpha · n): 1.7-3× faster than LinearSVC
        # (liblinear) on 20,000 synthetic cells × 453 features, 6 classes, at equal validation
        # accuracy; one-vs-rest, where the paper's SVMmulticlass is Crammer-Singer.
        for c in params["C"]:
            yield {"C": c}, SGDClassifier(loss="hinge", alpha=1.0 / (c * n_train),
                                          max_iter=params["epochs"], tol=None, average=True,
                                          random_state=seed)
    elif name == "svm_rbf":
        for c, gamma in itertools.product(params["C"], params["gamma"]):
            yield {"C": c, "gamma": gamma}, SVC(kernel="rbf", C=c, gamma=gamma, random_state=seed)
    elif name == "logistic_regression":
        for c in params["C"]:
            yield {"C": c}, LogisticRegression(C=c, max_iter=params["max_iter"], random_state=seed)
    else:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {sorted(DEFAULTS)}.")


@dataclass
class FoldFit:
    """A baseline fitted on one fold: the TRAIN-cell standardiser and the chosen classifier."""

    mean: np.ndarray  # (n_features,) of the TRAIN cells
    scale: np.ndarray  # (n_features,) SD of the TRAIN cells (1 where constant)
    estimator: Any  # fitted scikit-learn classifier, or None if TRAIN holds one class
    constant: int  # the single TRAIN class when ``estimator`` is None
    chosen: dict[str, float]  # hyperparameters picked on VALID
    valid_accuracy: float  # cell accuracy of the chosen model on VALID (NaN without VALID)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Label codes (n,) of cells ``x`` (n, n_features)."""
        if self.estimator is None:
            return np.full(len(x), self.constant, dtype=np.int64)
        return self.estimator.predict((x - self.mean) / self.scale).astype(np.int64)


def fit_fold(name: str, x: np.ndarray, y: np.ndarray, role: np.ndarray,
             params: Mapping[str, Any], seed: int) -> FoldFit:
    """Fits baseline ``name`` on one fold: standardise on TRAIN, fit each grid point on (a seeded
    subsample of) TRAIN, keep the best cell accuracy on VALID (first of the grid on ties).

    Args:
        x: Features (n_cells, n_features); y: label codes (n_cells,); role: the fold's roles.
    """
    train, valid = np.flatnonzero(role == ROLE_TRAIN), np.flatnonzero(role == ROLE_VALID)
    if len(train) == 0:
        raise InputDataError("A fold has no TRAIN cells: nothing to fit the baseline on.")
    mean = x[train].mean(axis=0)
    scale = x[train].std(axis=0)
    scale[scale == 0] = 1.0
    rng = np.random.default_rng(seed)
    n_fit = max(int(round(params["train_fraction"] * len(train))), params["min_train_cells"])
    n_fit = min(n_fit, len(train), params["max_train_cells"] or len(train))
    fit = np.sort(rng.choice(train, size=n_fit, replace=False)) if n_fit < len(train) else train
    if len(np.unique(y[fit])) < 2:
        return FoldFit(mean, scale, None, int(y[fit][0]), {}, np.nan)
    x_fit, x_valid = (x[fit] - mean) / scale, (x[valid] - mean) / scale
    candidates = list(_estimators(name, params, len(fit), seed))
    if len(candidates) > 1 and len(valid) == 0:
        raise InputDataError(f"Baseline {name!r} has a grid of {len(candidates)} settings but a fold "
                             "has no VALID cells to choose among them.")
    best = None
    for chosen, estimator in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(x_fit, y[fit])
        accuracy = float(np.mean(estimator.predict(x_valid) == y[valid])) if len(valid) else np.nan
        if best is None or accuracy > best.valid_accuracy:
            best = FoldFit(mean, scale, estimator, -1, chosen, accuracy)
    return best


def run_cell_baseline(
    name: str,
    cells: pd.DataFrame,
    features: Sequence[str],
    plan: FoldPlan,
    classes: Sequence[str],
    params: Mapping[str, Any],
    *,
    experiment: Mapping[str, str] | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs a cell classifier (``svm_linear``, ``svm_rbf``, ``logistic_regression``) on every
    fold of ``plan`` and predicts each fold's TEST cells.

    Args:
        cells: Problem table (n_cells rows) with ``Metadata_Label`` and the ``features``.
        params: Overrides of ``DEFAULTS[name]`` (grids, subsampling) and ``seed`` (default 0);
            fold ``f`` uses seed ``seed + f``.
        experiment: The ``EXPERIMENT_KEYS`` values; default approach and experiment ``name``,
            no mask, source or target.

    Returns:
        ``(cell predictions, runs)``: the ``results.test_predictions`` table, and one row per
        repetition with the keys, ``repetition``, ``n_compounds``, ``pretrain_seconds`` (0),
        ``finetune_seconds`` (fitting and selection), ``wall_seconds``, ``engine`` (the method),
        ``backend`` (scikit-learn version), ``device`` and ``chosen`` (hyperparameters picked
        per fold, with counts).
    """
    if name not in DEFAULTS:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {sorted(DEFAULTS)}.")
    unknown = set(params) - set(DEFAULTS[name]) - {"seed"}
    if unknown:
        raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for baseline {name!r}.")
    settings = {**DEFAULTS[name], **params}
    seed = int(params.get("seed", 0))
    require_columns(cells, [LABEL, *features], "cells")
    experiment = dict(experiment or dict(zip(EXPERIMENT_KEYS, (name, name, "", "", ""))))
    x = cells[list(features)].to_numpy(dtype=np.float32)
    y = cells[LABEL].to_numpy(dtype=np.int64)

    predicted = np.zeros(plan.roles.shape, dtype=np.int64)
    seconds = np.zeros(plan.n_folds)
    chosen = []
    for fold in tqdm(range(plan.n_folds), desc=name, disable=not progress):
        start = time.perf_counter()
        fitted = fit_fold(name, x, y, plan.roles[:, fold], settings, seed + fold)
        test = plan.roles[:, fold] == ROLE_TEST
        predicted[test, fold] = fitted.predict(x[test])
        seconds[fold] = time.perf_counter() - start
        chosen.append(", ".join(f"{k}={v:g}" for k, v in fitted.chosen.items()))
        logger.info("%s fold %d/%d (%s held out): %s, valid accuracy %.3f, %.1f s", name, fold + 1,
                    plan.n_folds, plan.compounds[fold], chosen[-1], fitted.valid_accuracy, seconds[fold])

    runs = []
    for repetition in np.unique(plan.repetitions):
        folds = np.flatnonzero(plan.repetitions == repetition)
        counts = Counter(chosen[f] for f in folds)
        runs.append({**{k: experiment[k] for k in EXPERIMENT_KEYS}, "repetition": int(repetition),
                     "n_compounds": len(folds), "pretrain_seconds": 0.0,
                     "finetune_seconds": float(seconds[folds].sum()),
                     "wall_seconds": float(seconds[folds].sum()), "engine": name,
                     "backend": f"scikit-learn {sklearn.__version__}", "device": "cpu",
                     "chosen": "; ".join(f"{c}: {n} folds" for c, n in counts.most_common())})
    return test_predictions(cells, plan, predicted, classes, experiment), pd.DataFrame(runs)


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

    if not has_neighbour.all():
        logger.warning("%s: %d treatment(s) have no admissible neighbour and are dropped: %s", approach,
                       int((~has_neighbour).sum()), ", ".join(table.index[~has_neighbour][:5]))
    if not reachable.all():
        logger.warning("%s: %d of %d treatments have no admissible neighbour of their own MOA "
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
