"""Fold-batched MLP training: the F folds of a plan train as ONE Keras model.

The SAA engine's machinery (``hca_dtl.model.batched``) carries over: per-fold weights stacked on
a leading axis, (F, B) cell indices per step (-1 where a fold has no cell), resident cells, one
compiled execution per epoch, ``GeometricPatience`` on each fold's VALID cells. What differs:
AdamW instead of plain SGD, made fold-aware by ``FoldAdamW`` (a fold moves only in the steps it
takes); keyed noise (``functions.keyed_uniform``) for dropout and masking corruption, drawn
from each fold's own keys (``FoldSteps``), so a fold meets the same noise as in the sequential
reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from hca_dtl.data.schema import ROLE_TRAIN
from hca_dtl.model.batched import (PREDICT_BATCH, FinetuneMonitor, FinetuneStage, FoldBatches,
                                   FoldLogistic, FoldPredictor, FoldStage, ResidentCells,
                                   fit_stage, predict_blocks, pretrain_logger)
from hca_dtl.model.mlp import functions
from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.optimizer import FoldAdamW
from hca_dtl.model.mlp.weights import MLPFoldWeights
from hca_dtl.model.patience import GeometricPatience
from hca_dtl.model.streams import noise_keys


def _constant(value: np.ndarray) -> Any:
    return lambda shape, dtype=None: ops.convert_to_tensor(value, dtype=dtype)


class FoldStandardization(keras.layers.Layer):
    """Each fold's standardisation: raw cells (B, D), shared by all folds, or (F, B, D) → (F, B, D)."""

    def __init__(self, mean: np.ndarray, inv_sd: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = self.add_weight(shape=mean.shape, initializer=_constant(mean),
                                    trainable=False, name="mean")
        self.inv_sd = self.add_weight(shape=inv_sd.shape, initializer=_constant(inv_sd),
                                      trainable=False, name="inv_sd")
        self.built = True

    def call(self, inputs: Any) -> Any:
        if len(inputs.shape) == 2:
            inputs = inputs[None, :, :]
        return (inputs - self.mean[:, None, :]) * self.inv_sd[:, None, :]


class FoldDenseBlock(keras.layers.Layer):
    """F ``DenseBlock``s: kernel (F, d_in, units), bias (F, units) (, gamma, beta (F, units))."""

    def __init__(self, arrays: Sequence[np.ndarray], activation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activation
        self.layer_norm = len(arrays) == 4
        names = ("kernel", "bias", "gamma", "beta")[:len(arrays)]
        for name, value in zip(names, arrays):
            setattr(self, name, self.add_weight(shape=value.shape, initializer=_constant(value),
                                                name=name))
        self.units = arrays[0].shape[-1]
        self.built = True

    def call(self, inputs: Any) -> Any:
        """(F, B, d_in) → (F, B, units)."""
        hidden = ops.matmul(inputs, self.kernel) + self.bias[:, None, :]
        if self.layer_norm:
            hidden = functions.layer_norm(hidden, self.gamma[:, None, :], self.beta[:, None, :])
        return functions.activate(hidden, self.activation)

    def decode(self, code: Any, decoder_bias: Any) -> Any:
        """(F, B, units) → (F, B, d_in) linear reconstruction ``code Wᵀ + b'``."""
        reconstruction = ops.einsum("fbu,fdu->fbd", code, self.kernel)
        return reconstruction + ops.cast(decoder_bias, reconstruction.dtype)[:, None, :]

    def layer_variables(self) -> list[Any]:
        return [self.kernel, self.bias, *((self.gamma, self.beta) if self.layer_norm else ())]


class FoldMLP(keras.layers.Layer):
    """F MLP classifiers side by side, built from ``MLPFoldWeights``; called → (F, B, C) logits."""

    def __init__(self, weights: MLPFoldWeights, activation: str, dtype: str = "float32",
                 **kwargs: Any) -> None:
        super().__init__(dtype=dtype, **kwargs)
        self.standardization = FoldStandardization(weights.mean, weights.inv_sd, dtype=dtype,
                                                   name="standardization")
        self.blocks = [FoldDenseBlock(arrays, activation, dtype=dtype, name=f"dense_{k + 1}")
                       for k, arrays in enumerate(weights.hidden)]
        self.logistic = FoldLogistic(*weights.logistic, dtype=dtype, name="logistic")
        self.built = True

    @property
    def n_folds(self) -> int:
        return self.standardization.mean.shape[0]

    def hidden(self, inputs: Any, n_layers: int | None = None,
               dropout: tuple[float, Any, Any] | None = None) -> Any:
        """(B, D) or (F, B, D) raw cells → (F, B, d) code after the first ``n_layers`` blocks.

        Args:
            dropout: None (inference) or (rate, keys (K, F) int32 noise keys, cells (F, B) int32).
        """
        hidden = self.standardization(inputs)
        for k, block in enumerate(self.blocks[:n_layers]):
            hidden = block(hidden)
            if dropout is not None and dropout[0] > 0:
                rate, keys, cells = dropout
                hidden = functions.dropout(
                    hidden, functions.keyed_uniform(keys[k][:, None], cells, block.units), rate)
        return hidden

    def logits(self, inputs: Any, dropout: tuple[float, Any, Any] | None = None) -> Any:
        """(B, D) or (F, B, D) raw cells → (F, B, C) logits (``dropout`` as in ``hidden``)."""
        return self.logistic(self.hidden(inputs, dropout=dropout))

    def call(self, inputs: Any) -> Any:
        return self.logits(inputs)

    def variables_in_order(self) -> list[Any]:
        """Variables in ``MLPFoldWeights.network_arrays`` order."""
        return [self.standardization.mean, self.standardization.inv_sd,
                *(v for block in self.blocks for v in block.layer_variables()),
                self.logistic.kernel, self.logistic.bias]

    def set_trainable(self, layers: Collection[int]) -> None:
        """Makes layers ``layers`` trainable (0-based hidden layers; K: the logistic layer), and
        freezes the others."""
        for k, layer in enumerate([*self.blocks, self.logistic]):
            layer.trainable = k in layers
        self.standardization.trainable = False


class FoldSteps(keras.layers.Layer):
    """Which folds take each step, and each fold's noise keys in the current epoch.

    ``gate``: (F,) trainable, always 0: a stage adds ``Σ gate · took`` to its loss, so that
    ``FoldAdamW`` learns from its gradient which folds took the step. ``keys``: (n_slots, F) int32
    noise keys (``streams.noise_keys``), set before every epoch.
    """

    def __init__(self, n_folds: int, n_slots: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = self.add_weight(shape=(n_folds,), initializer="zeros", name="gate")
        self.keys = self.add_weight(shape=(max(n_slots, 1), n_folds), initializer="zeros",
                                    dtype="int32", trainable=False, name="keys")
        self.built = True

    def gated(self, losses: Any, indices: Any, active: Any = 1.0) -> Any:
        """(F,) losses plus ``gate · took``, ``took`` 1 where a fold has a cell in ``indices``
        (F, B) and is ``active``."""
        took = ops.cast(ops.any(indices >= 0, axis=1), "float32") * active
        return losses + self.gate * took

    def keyed(self, seed: int, keys: np.ndarray, stage: int,
              after_epoch: Callable[[int, float], bool],
              first_epoch: int = 0) -> Callable[[int, float], bool]:
        """Sets the keys of epoch ``first_epoch`` now, and returns an ``after_epoch`` for a
        ``fit`` resuming at that epoch: ``after_epoch`` with the stage's epoch (1-based), then
        the keys of the next epoch."""
        def set_epoch(epoch: int) -> None:
            self.keys.assign(np.stack([noise_keys(seed, key, stage, epoch, self.keys.shape[0])
                                       for key in keys], axis=1))

        def wrapped(epoch: int, seconds: float) -> bool:
            done = after_epoch(first_epoch + epoch, seconds)
            set_epoch(first_epoch + epoch)
            return done

        set_epoch(first_epoch)
        return wrapped


class DenoisingStage(FoldStage):
    """Denoising-autoencoder pretraining of hidden layer ``layer`` (0-based) of every fold.

    The layer's input (the frozen layers below, applied to the standardised cell) is corrupted
    by masking noise (``corruption``), encoded by the layer and decoded linearly with the tied
    kernel and a decoder bias of the stage's own (F, d_in); the loss of a cell is the mean
    squared error of the reconstruction against the clean input (a linear decoder and squared
    error suit real-valued targets: standardised features for layer 1, ReLU/GELU codes above).
    """

    def __init__(self, network: FoldMLP, cells: ResidentCells, layer: int, corruption: float,
                 steps: FoldSteps, **kwargs: Any) -> None:
        super().__init__(network, cells, **kwargs)
        self.layer, self.corruption, self.steps = layer, corruption, steps
        d_in = network.blocks[layer].kernel.shape[1]
        self.decoder_bias = self.add_weight(shape=(network.n_folds, d_in), initializer="zeros",
                                            name="decoder_bias")
        self.built = True

    def cell_losses(self, indices: Any) -> tuple[Any, Any]:
        x, _, weight = self.cells.batch(indices)
        clean = ops.stop_gradient(self.network.hidden(x, self.layer))
        corrupted = clean
        if self.corruption > 0:
            uniform = functions.keyed_uniform(self.steps.keys[0][:, None], indices, clean.shape[-1])
            corrupted = functions.mask_noise(clean, uniform, self.corruption)
        block = self.network.blocks[self.layer]
        reconstruction = block.decode(block(corrupted), self.decoder_bias)
        error = ops.cast(reconstruction, "float32") - ops.cast(clean, "float32")
        return ops.mean(ops.square(error), axis=-1), weight

    def call(self, indices: Any) -> Any:
        return self.steps.gated(super().call(indices), indices)


class MLPFinetuneStage(FinetuneStage):
    """Supervised fine-tuning with keyed dropout; ``active`` (F,) gates each fold."""

    def __init__(self, network: FoldMLP, cells: ResidentCells, n_classes: int, dropout: float,
                 steps: FoldSteps, **kwargs: Any) -> None:
        super().__init__(network, cells, n_classes, **kwargs)
        self.rate, self.steps = dropout, steps

    def cell_losses(self, indices: Any) -> tuple[Any, Any]:
        x, labels, weight = self.cells.batch(indices)
        logits = self.network.logits(x, dropout=(self.rate, self.steps.keys, indices))
        log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        target = ops.one_hot(labels, self.n_classes, dtype="float32")
        return -ops.sum(log_p * target, axis=-1), weight * self.active[:, None]

    def call(self, indices: Any) -> Any:
        return self.steps.gated(super().call(indices), indices, self.active)


def train_batched_mlp(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int,
                      config: MLPConfig, weights: MLPFoldWeights, pretrain_layers: Sequence[int],
                      frozen_layers: Collection[int], keys: np.ndarray, *,
                      progress: bool = True) -> dict[str, Any]:
    """Pretrains ``pretrain_layers`` and fine-tunes all F folds as one model.

    Args:
        x: (N, D) float32 raw features; y: (N,) int label codes.
        roles: (N, F) int8 fold roles (1 = TRAIN, 2 = VALID).
        weights: Initial weights with fitted per-fold range and standardisation.
        pretrain_layers: 0-based hidden layers to pretrain greedily, in order.
        frozen_layers: Layers (0-based; K = logistic) frozen for the first
            ``config.freeze_transferred_epochs`` fine-tuning epochs.
        keys: (F, k) network keys (``streams``).

    Returns:
        ``weights`` (MLPFoldWeights, best epoch of each fold), ``history`` (per fold),
        ``epochs_run`` (F,), ``best_valid_error`` (F,), ``pretrain_seconds``, ``finetune_seconds``.
    """
    n_folds, n_hidden = roles.shape[1], len(weights.hidden)
    train = roles == ROLE_TRAIN
    network = FoldMLP(weights, config.activation, dtype=config.dtype)
    cells = ResidentCells(x.astype(np.float32), y.astype(np.int32))
    history: list[dict[str, Any]] = [{"pretrain_loss": {}, "finetune_loss": [], "valid_error": []}
                                     for _ in range(n_folds)]

    def batches(stage: int, first_epoch: int = 0) -> FoldBatches:
        return FoldBatches(train, config.batch_size, config.seed, keys, stage, config.shuffle,
                           first_epoch)

    start = time.perf_counter()
    for layer in pretrain_layers:
        network.set_trainable([layer])
        steps = FoldSteps(n_folds, 1)
        stage = DenoisingStage(network, cells, layer, config.corruption, steps)
        log = pretrain_logger(stage, layer, n_hidden, config.pretrain_epochs, history, progress)
        fit_stage(stage, batches(layer), FoldAdamW(config.pretrain_learning_rate, 0.0, steps.gate),
                  config.pretrain_epochs, steps.keyed(config.seed, keys, layer, log))
    pretrain_seconds = time.perf_counter() - start if len(pretrain_layers) else 0.0

    start = time.perf_counter()
    steps = FoldSteps(n_folds, n_hidden)
    stage = MLPFinetuneStage(network, cells, n_classes, config.dropout, steps)
    n_batches = np.maximum(1, np.ceil(train.sum(axis=0) / config.batch_size)).astype(np.int64)
    patience = GeometricPatience(n_batches, patience_epochs=config.patience_epochs,
                                 improvement_threshold=config.improvement_threshold,
                                 patience_increase=config.patience_increase,
                                 max_epochs=config.max_epochs)
    monitor = FinetuneMonitor(stage, patience, x, y, roles, history, progress)
    done = 0
    for epochs, frozen in finetune_phases(config, frozen_layers):
        if not patience.active.any():
            break
        network.set_trainable(set(range(n_hidden + 1)) - set(frozen))
        fit_stage(stage, batches(n_hidden, done),
                  FoldAdamW(config.learning_rate, config.weight_decay, steps.gate), epochs,
                  steps.keyed(config.seed, keys, n_hidden, monitor, done))
        done += epochs
    finetune_seconds = time.perf_counter() - start
    monitor.finish()
    return {"weights": weights.with_network_arrays(monitor.best), "history": history,
            "epochs_run": patience.epochs_run.copy(), "best_valid_error": patience.best_error.copy(),
            "pretrain_seconds": pretrain_seconds, "finetune_seconds": finetune_seconds}


def finetune_phases(config: MLPConfig, frozen_layers: Collection[int]) -> list[tuple[int, list[int]]]:
    """(epochs, frozen layers) of each fine-tuning phase: the transferred layers frozen for
    ``freeze_transferred_epochs`` (if any are), then everything trainable up to ``max_epochs``;
    each phase starts a fresh optimizer."""
    frozen_epochs = min(config.freeze_transferred_epochs, config.max_epochs) if frozen_layers else 0
    phases = [(frozen_epochs, sorted(frozen_layers)), (config.max_epochs - frozen_epochs, [])]
    return [(epochs, frozen) for epochs, frozen in phases if epochs > 0]


def predict_folds_mlp(weights: MLPFoldWeights, activation: str, x: np.ndarray,
                      batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """(N, F, C) float32 class probabilities of cells ``x`` (N, D) under each fold's MLP."""
    return predict_blocks(FoldPredictor(FoldMLP(weights, activation)), np.asarray(x, np.float32),
                          batch_size)
