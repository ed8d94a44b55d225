"""``train_folds``: every fold of a LOOCV plan trained from one call, batched or sequentially."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import keras
import numpy as np

from hca_dtl.data.schema import ROLE_TEST, ROLE_TRAIN, ROLE_UNUSED, ROLE_VALID, InputDataError
from hca_dtl.model.batched import train_batched
from hca_dtl.model.config import SAAConfig
from hca_dtl.model.ensemble import FoldEnsemble
from hca_dtl.model.layers import SAAClassifier
from hca_dtl.model.sequential import fine_tune, pretrain_greedy
from hca_dtl.model.streams import checked_keys
from hca_dtl.model.weights import (FoldWeights, LayerInit, classifier_weights, fit_min_max,
                                   initial_weights, set_classifier_weights)

logger = logging.getLogger(__name__)

ENGINES = ("batched", "sequential")


def train_folds(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int, config: SAAConfig,
                *, init: Sequence[LayerInit] | None = None, pretrain: bool = True,
                engine: str = "batched", network_keys: np.ndarray | None = None,
                progress: bool = True) -> FoldEnsemble:
    """Trains one SAA classifier per fold (column of ``roles``).

    Each fold's scaler is fitted on its TRAIN cells; layers whose ``init`` is None start random
    and, if ``pretrain``, are greedily pretrained on the fold's TRAIN cells; then the whole
    network is fine-tuned on TRAIN with early stopping on VALID (geometric patience) and the best
    epoch's weights are kept.

    Args:
        x: (N, D) raw (unscaled) features.
        y: (N,) int label codes in [0, n_classes), used where a fold's role is TRAIN or VALID.
        roles: (N, F) int8 roles (0 unused, 1 TRAIN, 2 VALID, 3 TEST).
        n_classes: Classes C.
        config: Network and optimisation settings.
        init: None (all random) or K + 1 entries (hidden layers 1..K, logistic layer), each None
            or the source layer's weights (see ``transfer_init``), shared by every fold or with a
            leading fold axis (F, ...) where folds start from different source models.
        pretrain: Greedily pretrain the layers whose ``init`` is None (BL: True; the paper's
            transfer settings: False).
        engine: ``batched`` (all folds as one model) or ``sequential`` (one Keras model per fold).
        network_keys: (F, k) distinct non-negative integers naming each fold's network (default:
            fold f is (f,)); with ``config.seed`` they alone seed its initial weights and cell
            orders (``hca_dtl.model.streams``), so a fold trains the same beside any other folds.
        progress: Log one INFO line per epoch (else DEBUG).

    Returns:
        The trained ``FoldEnsemble``.

    Raises:
        InputDataError: ``x``, ``y`` or ``roles`` malformed (shapes, NaN, labels, a fold without
            TRAIN or VALID cells).
        ValueError: Unknown ``engine``, ``init`` not matching the network, or bad
            ``network_keys``.
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; expected one of {ENGINES}")
    x, y, roles = checked_inputs(x, y, roles, n_classes)
    keys = checked_keys(network_keys, roles.shape[1])
    keras.utils.set_random_seed(config.seed)
    start = time.perf_counter()
    weights = initial_weights(x.shape[1], n_classes, roles.shape[1], config, init, keys)
    weights.minimum, weights.scale = fit_min_max(x, roles == ROLE_TRAIN)
    n_hidden = len(config.hidden_units)
    pretrain_layers = [k for k in range(n_hidden) if pretrain and (init is None or init[k] is None)]
    if engine == "batched":
        result = train_batched(x, y, roles, n_classes, config, weights, pretrain_layers, keys,
                               progress=progress)
    else:
        result = _train_sequential(x, y, roles, n_classes, config, weights, pretrain_layers, keys,
                                   progress=progress)
    timings = {"pretrain_seconds": result["pretrain_seconds"],
               "finetune_seconds": result["finetune_seconds"],
               "wall_seconds": time.perf_counter() - start}
    return FoldEnsemble(result["weights"], config, n_classes, result["history"],
                        np.asarray(result["epochs_run"], dtype=np.int64),
                        np.asarray(result["best_valid_error"], dtype=np.float64), timings, engine)


def _train_sequential(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int,
                      config: SAAConfig, weights: FoldWeights, pretrain_layers: list[int],
                      keys: np.ndarray, *, progress: bool) -> dict:
    """The per-fold reference: a plain ``SAAClassifier`` per fold, ``pretrain_greedy`` + ``fine_tune``."""
    folds, history, pretrain_seconds, finetune_seconds = [], [], 0.0, 0.0
    for fold in range(roles.shape[1]):
        train, valid = roles[:, fold] == ROLE_TRAIN, roles[:, fold] == ROLE_VALID
        model = SAAClassifier(x.shape[1], config.hidden_units, n_classes)
        set_classifier_weights(model, weights.fold(fold))
        tick = time.perf_counter()
        losses = pretrain_greedy(model, x[train], config, layers=pretrain_layers, key=keys[fold])
        if pretrain_layers:  # a transfer setting pretrains nothing: report 0, not overhead
            pretrain_seconds += time.perf_counter() - tick
        tick = time.perf_counter()
        record = fine_tune(model, x[train], y[train], x[valid], y[valid], config, key=keys[fold])
        finetune_seconds += time.perf_counter() - tick
        record["pretrain_loss"] = losses
        history.append(record)
        folds.append(classifier_weights(model))
        logger.log(logging.INFO if progress else logging.DEBUG,
                   "fold %d/%d: %d epochs, best valid error %.4f at epoch %d", fold + 1,
                   roles.shape[1], record["stopped_epoch"], record["best_valid_error"],
                   record["best_epoch"])
    return {"weights": FoldWeights.stack(folds), "history": history,
            "epochs_run": [h["stopped_epoch"] for h in history],
            "best_valid_error": [h.pop("best_valid_error") for h in history],
            "pretrain_seconds": pretrain_seconds, "finetune_seconds": finetune_seconds}


def checked_inputs(x: np.ndarray, y: np.ndarray, roles: np.ndarray,
                   n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` (N, D) float32, ``y`` (N,) int32 and ``roles`` (N, F), checked for ``train_folds``.

    Raises:
        InputDataError: See ``train_folds``.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    roles = np.asarray(roles)
    if x.ndim != 2:
        raise InputDataError(f"features x must be (cells, features), got shape {x.shape}")
    if y.shape != (len(x),):
        raise InputDataError(f"labels y must have shape ({len(x)},), got {y.shape}")
    if roles.ndim != 2 or len(roles) != len(x):
        raise InputDataError(f"roles must be (cells={len(x)}, folds), got shape {roles.shape}")
    if not np.isin(roles, (ROLE_UNUSED, ROLE_TRAIN, ROLE_VALID, ROLE_TEST)).all():
        raise InputDataError(f"roles holds values other than 0-3: {sorted(set(np.unique(roles)) - {0, 1, 2, 3})}")
    used = ((roles == ROLE_TRAIN) | (roles == ROLE_VALID)).any(axis=1)
    bad_rows = np.flatnonzero(~np.isfinite(x[used]).all(axis=1))
    if len(bad_rows):
        row = np.flatnonzero(used)[bad_rows[0]]
        column = int(np.flatnonzero(~np.isfinite(x[row]))[0])
        raise InputDataError(f"features x hold {len(bad_rows)} TRAIN/VALID cells with NaN or "
                             f"infinite values, e.g. cell {row}, feature column {column}")
    labels = y[used]
    if len(labels) and (not np.issubdtype(y.dtype, np.integer) or labels.min() < 0
                        or labels.max() >= n_classes):
        raise InputDataError(f"labels y of TRAIN/VALID cells must be integer codes in [0, {n_classes}), "
                             f"got dtype {y.dtype}, range [{labels.min()}, {labels.max()}]")
    for role, name in ((ROLE_TRAIN, "TRAIN"), (ROLE_VALID, "VALID")):
        empty = np.flatnonzero(~(roles == role).any(axis=0))
        if len(empty):
            raise InputDataError(f"fold(s) {empty.tolist()} of roles have no {name} cells")
    return x, y.astype(np.int32), roles
