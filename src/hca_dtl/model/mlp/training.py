"""``train_folds_mlp``: every fold of a plan trained with the MLP learner, batched or sequentially."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import keras
import numpy as np

from hca_dtl.data.schema import ROLE_TRAIN, ROLE_VALID
from hca_dtl.model.mlp.batched import train_batched_mlp
from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.ensemble import FoldEnsembleMLP
from hca_dtl.model.mlp.layers import MLPClassifier
from hca_dtl.model.mlp.sequential import fine_tune_mlp, pretrain_denoising
from hca_dtl.model.mlp.weights import (MLPFoldWeights, classifier_weights_mlp, fit_standardization,
                                       initial_weights_mlp, set_classifier_weights_mlp)
from hca_dtl.model.streams import checked_keys
from hca_dtl.model.training import ENGINES, checked_inputs
from hca_dtl.model.weights import LayerInit, fit_min_max

logger = logging.getLogger(__name__)


def train_folds_mlp(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int,
                    config: MLPConfig, *, init: Sequence[LayerInit] | None = None,
                    pretrain: bool = True, engine: str = "batched",
                    network_keys: np.ndarray | None = None,
                    progress: bool = True) -> FoldEnsembleMLP:
    """Trains one MLP classifier per fold (column of ``roles``); the contract of ``train_folds``.

    Each fold's standardisation (and the training range kept for out-of-range flags) is fitted
    on its TRAIN cells; layers whose ``init`` is None start random and, if ``pretrain`` and
    ``config.pretrain == "denoising"``, are pretrained greedily as denoising autoencoders on the
    fold's TRAIN cells; then the whole network is fine-tuned (AdamW, dropout) on TRAIN with early
    stopping on VALID (geometric patience), transferred layers frozen for the first
    ``config.freeze_transferred_epochs`` epochs, and the best epoch's weights are kept.

    Args:
        x: (N, D) raw (unstandardised) features.
        y: (N,) int label codes in [0, n_classes), used where a fold's role is TRAIN or VALID.
        roles: (N, F) int8 roles (0 unused, 1 TRAIN, 2 VALID, 3 TEST).
        n_classes: Classes C.
        config: Network and optimisation settings.
        init: None (all random) or K + 1 entries (hidden layers 1..K, logistic layer), each None
            or the source layer's arrays (``transfer_init_mlp``), shared by every fold or with a
            leading fold axis (F, ...).
        pretrain: Pretrain the layers whose ``init`` is None (only if ``config.pretrain`` is
            ``denoising``; with ``none`` nothing is pretrained whatever this says).
        engine: ``batched`` (all folds as one model) or ``sequential`` (one Keras model per fold).
        network_keys: (F, k) distinct non-negative integers naming each fold's network (default:
            fold f is (f,)); with ``config.seed`` they alone decide its initial weights, cell
            orders, dropout masks and corruption, so a fold trains the same beside any others.
        progress: Log one INFO line per epoch (else DEBUG).

    Returns:
        The trained ``FoldEnsembleMLP``.

    Raises:
        InputDataError: ``x``, ``y`` or ``roles`` malformed (shapes, NaN, labels, a fold without
            TRAIN or VALID cells).
        ValueError: Unknown ``engine``, ``init`` not matching the network (the layer named), bad
            ``network_keys``, or every layer transferred and frozen (nothing to train).
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; expected one of {ENGINES}")
    x, y, roles = checked_inputs(x, y, roles, n_classes)
    keys = checked_keys(network_keys, roles.shape[1])
    keras.utils.set_random_seed(config.seed)
    start = time.perf_counter()
    weights = initial_weights_mlp(x.shape[1], n_classes, roles.shape[1], config, init, keys)
    train = roles == ROLE_TRAIN
    weights.minimum, weights.scale = fit_min_max(x, train)
    weights.mean, weights.inv_sd = fit_standardization(x, train)
    n_hidden = len(config.hidden_units)
    transferred = [k for k in range(n_hidden + 1) if init is not None and init[k] is not None]
    if config.freeze_transferred_epochs and len(transferred) == n_hidden + 1:
        raise ValueError("freeze_transferred_epochs > 0 with every layer transferred leaves "
                         "nothing to train while they are frozen")
    pretrain_layers = [k for k in range(n_hidden) if pretrain and config.pretrain != "none"
                       and k not in transferred]
    train_engine = train_batched_mlp if engine == "batched" else _train_sequential_mlp
    result = train_engine(x, y, roles, n_classes, config, weights, pretrain_layers, transferred,
                          keys, progress=progress)
    timings = {"pretrain_seconds": result["pretrain_seconds"],
               "finetune_seconds": result["finetune_seconds"],
               "wall_seconds": time.perf_counter() - start}
    return FoldEnsembleMLP(result["weights"], config, n_classes, result["history"],
                           np.asarray(result["epochs_run"], dtype=np.int64),
                           np.asarray(result["best_valid_error"], dtype=np.float64), timings,
                           engine)


def _train_sequential_mlp(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int,
                          config: MLPConfig, weights: MLPFoldWeights, pretrain_layers: list[int],
                          frozen_layers: list[int], keys: np.ndarray, *, progress: bool) -> dict:
    """The per-fold reference: a plain ``MLPClassifier`` per fold, ``pretrain_denoising`` +
    ``fine_tune_mlp``."""
    if config.dtype != "float32":
        raise ValueError(f"The sequential engine trains in float32 only, not {config.dtype!r}")
    folds, history, pretrain_seconds, finetune_seconds = [], [], 0.0, 0.0
    for fold in range(roles.shape[1]):
        train, valid = roles[:, fold] == ROLE_TRAIN, roles[:, fold] == ROLE_VALID
        cells = np.flatnonzero(train).astype(np.int32)
        model = MLPClassifier(x.shape[1], config.hidden_units, n_classes, config.activation,
                              config.layer_norm)
        set_classifier_weights_mlp(model, weights.fold(fold))
        tick = time.perf_counter()
        losses = pretrain_denoising(model, x[train], cells, config, layers=pretrain_layers,
                                    key=keys[fold])
        if pretrain_layers:
            pretrain_seconds += time.perf_counter() - tick
        tick = time.perf_counter()
        record = fine_tune_mlp(model, x[train], y[train], cells, x[valid], y[valid], config,
                               frozen_layers=frozen_layers, key=keys[fold])
        finetune_seconds += time.perf_counter() - tick
        record["pretrain_loss"] = losses
        history.append(record)
        folds.append(classifier_weights_mlp(model))
        logger.log(logging.INFO if progress else logging.DEBUG,
                   "fold %d/%d: %d epochs, best valid error %.4f at epoch %d", fold + 1,
                   roles.shape[1], record["stopped_epoch"], record["best_valid_error"],
                   record["best_epoch"])
    return {"weights": MLPFoldWeights.stack(folds, len(config.hidden_units)), "history": history,
            "epochs_run": [h["stopped_epoch"] for h in history],
            "best_valid_error": [h.pop("best_valid_error") for h in history],
            "pretrain_seconds": pretrain_seconds, "finetune_seconds": finetune_seconds}
