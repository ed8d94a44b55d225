"""Fold-batched training: the F folds of a LOOCV plan train as ONE Keras model.

Per-fold weights are stacked on a leading axis (kernel (F, d_in, d_out)); activations are
fold-major (F, B, d) so every layer is one batched matmul. Each step feeds every fold a
mini-batch of its own TRAIN cells, in the fold's own order (``streams.epoch_order``): an (F, B)
array of cell indices, -1 where a fold has no cell left this epoch. Each fold's loss is the mean
over its own cells in the step, summed over folds, so the gradient of a fold's weights is that of
its own per-fold training; a fold with no cell in a step, or early-stopped (``active`` 0), does not
move under plain SGD. A fold therefore trains exactly as it would alone (the sequential engine).

The feature matrix and labels live on the backend device as non-trainable variables; each step
feeds only cell indices. A training stage (one pretrained layer, or fine-tuning) is one ``fit``
call over all its epochs, one compiled execution per epoch; a callback does the per-epoch work.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from hca_dtl.data.schema import ROLE_TRAIN, ROLE_VALID
from hca_dtl.model.config import SAAConfig
from hca_dtl.model.layers import reconstruction_loss, tied_encode, tied_reconstruction_logits
from hca_dtl.model.patience import GeometricPatience
from hca_dtl.model.sequential import PREDICT_BATCH, in_batches
from hca_dtl.model.streams import epoch_order
from hca_dtl.model.weights import FoldWeights

logger = logging.getLogger(__name__)



def _constant(value: np.ndarray) -> Any:
    return lambda shape, dtype=None: ops.convert_to_tensor(value, dtype=dtype)


class FoldMinMaxScaling(keras.layers.Layer):
    """Each fold's min–max scaler: raw cells (B, D), the same for every fold, or (F, B, D), each
    fold its own → (F, B, D) in [0, 1], clipped."""

    def __init__(self, minimum: np.ndarray, scale: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = self.add_weight(shape=minimum.shape, initializer=_constant(minimum),
                                       trainable=False, name="minimum")
        self.scale = self.add_weight(shape=scale.shape, initializer=_constant(scale),
                                     trainable=False, name="scale")
        self.built = True

    def call(self, inputs: Any) -> Any:
        if len(inputs.shape) == 2:
            inputs = inputs[None, :, :]
        scaled = (inputs - self.minimum[:, None, :]) * self.scale[:, None, :]
        return ops.clip(scaled, 0.0, 1.0)


class FoldTiedAutoassociator(keras.layers.Layer):
    """F tied-weight autoassociators: kernel (F, d_in, units), biases (F, units) and (F, d_in)."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, decoder_bias: np.ndarray,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel = self.add_weight(shape=kernel.shape, initializer=_constant(kernel), name="kernel")
        self.bias = self.add_weight(shape=bias.shape, initializer=_constant(bias), name="bias")
        self.decoder_bias = self.add_weight(shape=decoder_bias.shape,
                                            initializer=_constant(decoder_bias), name="decoder_bias")
        self.built = True

    def call(self, inputs: Any) -> Any:
        """(F, B, d_in) → (F, B, units) hidden codes."""
        return tied_encode(inputs, self.kernel, self.bias)

    def reconstruction_logits(self, hidden: Any) -> Any:
        """(F, B, units) → (F, B, d_in) pre-sigmoid reconstruction ``h Wᵀ + b'``."""
        return tied_reconstruction_logits(hidden, self.kernel, self.decoder_bias)


class FoldLogistic(keras.layers.Layer):
    """F softmax layers without the softmax: (F, B, units) → (F, B, C) logits."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel = self.add_weight(shape=kernel.shape, initializer=_constant(kernel), name="kernel")
        self.bias = self.add_weight(shape=bias.shape, initializer=_constant(bias), name="bias")
        self.built = True

    def call(self, inputs: Any) -> Any:
        return ops.matmul(inputs, self.kernel) + self.bias[:, None, :]


class FoldSAA(keras.layers.Layer):
    """F stacked-autoassociator classifiers side by side, built from ``FoldWeights``."""

    def __init__(self, weights: FoldWeights, dtype: str = "float32", **kwargs: Any) -> None:
        super().__init__(dtype=dtype, **kwargs)
        self.scaling = FoldMinMaxScaling(weights.minimum, weights.scale, dtype=dtype, name="scaling")
        self.encoders = [
            FoldTiedAutoassociator(weights.kernels[k], weights.biases[k], weights.decoder_biases[k],
                                   dtype=dtype, name=f"autoassociator_{k + 1}")
            for k in range(len(weights.kernels))]
        self.logistic = FoldLogistic(weights.logistic_kernel, weights.logistic_bias, dtype=dtype,
                                     name="logistic")
        self.built = True

    @property
    def n_folds(self) -> int:
        return self.scaling.minimum.shape[0]

    def encode(self, inputs: Any, n_layers: int | None = None) -> Any:
        """(B, D) or (F, B, D) raw cells → (F, B, d) code after the first ``n_layers`` encoders
        (all if None)."""
        hidden = self.scaling(inputs)
        for encoder in self.encoders[:n_layers]:
            hidden = encoder(hidden)
        return hidden

    def call(self, inputs: Any) -> Any:
        """(B, D) or (F, B, D) raw cells → (F, B, C) logits."""
        return self.logistic(self.encode(inputs))

    def variables_in_order(self) -> list[Any]:
        """Variables in ``FoldWeights.arrays`` order."""
        hidden = [v for e in self.encoders for v in (e.kernel, e.bias, e.decoder_bias)]
        return [self.scaling.minimum, self.scaling.scale, *hidden, self.logistic.kernel,
                self.logistic.bias]

    def set_trainable(self, layers: Sequence[int] | None, logistic: bool) -> None:
        """Makes hidden layers ``layers`` (0-based; None = all) and optionally the logistic layer
        trainable; decoder biases train only in pretraining (``logistic`` False)."""
        for k, encoder in enumerate(self.encoders):
            encoder.trainable = layers is None or k in layers
            encoder.decoder_bias.trainable = encoder.trainable and not logistic
        self.logistic.trainable = logistic
        self.scaling.trainable = False


class ResidentCells(keras.layers.Layer):
    """The training data kept on the backend device: features (N, D) and labels (N,)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = self.add_weight(shape=x.shape, initializer=_constant(x), trainable=False,
                                        name="features")
        self.labels = self.add_weight(shape=y.shape, initializer=_constant(y), trainable=False,
                                      dtype="int32", name="labels")
        self.built = True

    def batch(self, indices: Any) -> tuple[Any, Any, Any]:
        """(F, B) cell indices (-1: none) → (F, B, D) features, (F, B) labels, (F, B) 0/1 weights."""
        present = indices >= 0
        indices = ops.maximum(indices, 0)
        return (ops.take(self.features, indices, axis=0), ops.take(self.labels, indices, axis=0),
                ops.cast(present, "float32"))


class FoldBatches(keras.utils.PyDataset):
    """Endless mini-batches of every fold's TRAIN cells, for ``fit(steps_per_epoch=...)``.

    Batch i is step i mod ``steps_per_epoch`` of epoch ``first_epoch`` + i // ``steps_per_epoch``
    (0-based): an (F, B) int32 array whose row f holds fold f's next B cells of that epoch in its own order
    (``streams.epoch_order(..., key f, stage, epoch)``), -1 where it has none left. A pure
    function of i, so prefetching cannot change what a fold sees.

    Args:
        train: (N, F) bool, each fold's TRAIN cells.
        keys: (F, k) network keys (``streams.checked_keys``).
        stage: Training stage (pretrained hidden layer k: k; fine-tuning: K).
        first_epoch: The epoch of batch 0 (a stage resumed by a second ``fit`` continues its
            epochs, and so its cell orders).
    """

    def __init__(self, train: np.ndarray, batch_size: int, seed: int, keys: np.ndarray,
                 stage: int, shuffle: bool = True, first_epoch: int = 0) -> None:
        super().__init__()
        self.cells = [np.flatnonzero(train[:, f]).astype(np.int32) for f in range(train.shape[1])]
        self.batch_size, self.seed, self.keys, self.stage = batch_size, seed, keys, stage
        self.shuffle, self.first_epoch = shuffle, first_epoch
        self.steps_per_epoch = max(1, max(math.ceil(len(c) / batch_size) for c in self.cells))
        self._epoch, self._order = -1, np.zeros(0)

    @property
    def num_batches(self) -> None:
        return None

    def __getitem__(self, index: int) -> np.ndarray:
        epoch, step = divmod(int(index), self.steps_per_epoch)
        epoch += self.first_epoch
        if epoch != self._epoch:
            order = np.full((len(self.cells), self.steps_per_epoch * self.batch_size), -1, np.int32)
            for f, cells in enumerate(self.cells):
                order[f, :len(cells)] = epoch_order(cells, self.seed, self.keys[f], self.stage,
                                                    epoch, self.shuffle)
            # (steps, F, B), contiguous per step: one copy per epoch, none per step.
            self._order = np.ascontiguousarray(
                order.reshape(len(self.cells), self.steps_per_epoch, self.batch_size).swapaxes(0, 1))
            self._epoch = epoch
        return self._order[step]


class EachEpoch(keras.callbacks.Callback):
    """Calls ``after_epoch(epoch, seconds)`` (epoch 1-based) after every epoch of a ``fit``;
    a True return stops training."""

    def __init__(self, after_epoch: Callable[[int, float], bool]) -> None:
        super().__init__()
        self.after_epoch = after_epoch
        self._tick = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._tick = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.after_epoch(epoch + 1, time.perf_counter() - self._tick):
            self.model.stop_training = True


def fit_stage(stage: keras.Model, batches: FoldBatches,
              optimizer: float | keras.optimizers.Optimizer, epochs: int,
              after_epoch: Callable[[int, float], bool]) -> None:
    """Trains ``stage`` for up to ``epochs`` epochs of ``batches``, one compiled execution per
    epoch, ``after_epoch`` after each; ``optimizer`` is a plain-SGD learning rate or an optimizer
    that keeps idle and stopped folds still (e.g. ``hca_dtl.model.mlp.FoldAdamW``)."""
    if epochs < 1:
        return
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = keras.optimizers.SGD(optimizer)
    stage.compile(optimizer=optimizer, steps_per_execution=batches.steps_per_epoch)
    stage.fit(batches, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, shuffle=False,
              verbose=0, callbacks=[EachEpoch(after_epoch)])


class FoldStage(keras.Model):
    """A training stage over resident cells: ``call(indices)`` ((F, B) cell indices, -1: none)
    returns the per-fold losses (F,). ``network`` holds F networks side by side (``FoldSAA``, or
    ``hca_dtl.model.mlp.FoldMLP``): ``n_folds``, and (F, B, C) logits when called.

    ``compute_loss`` sums them. ``loss_sum``/``weight_sum`` accumulate each fold's weighted loss
    and cell count over an epoch (its mean training loss).
    """

    def __init__(self, network: keras.layers.Layer, cells: ResidentCells, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.cells = cells
        n_folds = network.n_folds
        self.loss_sum = self.add_weight(shape=(n_folds,), initializer="zeros", trainable=False,
                                        name="loss_sum")
        self.weight_sum = self.add_weight(shape=(n_folds,), initializer="zeros", trainable=False,
                                          name="weight_sum")
        self.built = True

    def cell_losses(self, indices: Any) -> tuple[Any, Any]:
        """(F, B) loss of each cell under each fold, and (F, B) fold weights."""
        raise NotImplementedError

    def call(self, indices: Any) -> Any:
        losses, weight = self.cell_losses(indices)
        weighted = ops.sum(weight * losses, axis=1)
        count = ops.sum(weight, axis=1)
        self.loss_sum.assign_add(weighted)
        self.weight_sum.assign_add(count)
        return weighted / ops.maximum(count, 1.0)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        return ops.sum(y_pred)

    def take_epoch_loss(self) -> np.ndarray:
        """(F,) mean loss of each fold over its cells this epoch (nan if none); resets the sums."""
        total, count = ops.convert_to_numpy(self.loss_sum), ops.convert_to_numpy(self.weight_sum)
        self.loss_sum.assign(np.zeros_like(total))
        self.weight_sum.assign(np.zeros_like(count))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)


class PretrainStage(FoldStage):
    """Greedy pretraining of hidden layer ``layer`` (0-based) of every fold on its TRAIN cells."""

    def __init__(self, network: FoldSAA, cells: ResidentCells, layer: int, loss: str,
                 **kwargs: Any) -> None:
        super().__init__(network, cells, **kwargs)
        self.layer = layer
        self.loss_kind = loss

    def cell_losses(self, indices: Any) -> tuple[Any, Any]:
        x, _, weight = self.cells.batch(indices)
        hidden = ops.stop_gradient(self.network.encode(x, self.layer))
        encoder = self.network.encoders[self.layer]
        logits = encoder.reconstruction_logits(encoder(hidden))
        return reconstruction_loss(hidden, logits, self.loss_kind), weight


class FinetuneStage(FoldStage):
    """Supervised fine-tuning of every fold on its TRAIN cells; ``active`` (F,) gates each fold."""

    def __init__(self, network: keras.layers.Layer, cells: ResidentCells, n_classes: int,
                 **kwargs: Any) -> None:
        super().__init__(network, cells, **kwargs)
        self.n_classes = n_classes
        n_folds = network.n_folds
        self.active = self.add_weight(shape=(n_folds,), initializer="ones", trainable=False,
                                      name="active")
        self.built = True

    def cell_losses(self, indices: Any) -> tuple[Any, Any]:
        x, labels, weight = self.cells.batch(indices)
        log_p = ops.log_softmax(ops.cast(self.network(x), "float32"), axis=-1)
        target = ops.one_hot(labels, self.n_classes, dtype="float32")
        return -ops.sum(log_p * target, axis=-1), weight * self.active[:, None]


class FoldPredictor(keras.Model):
    """Class probabilities of every fold: (B, D) raw cells → (B, F, C); ``network`` as in
    ``FoldStage`` (with a ``logistic`` output layer)."""

    def __init__(self, network: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.built = True

    def call(self, inputs: Any) -> Any:
        return ops.transpose(ops.softmax(ops.cast(self.network(inputs), "float32"), axis=-1),
                             (1, 0, 2))


def _log(progress: bool, message: str, *args: Any) -> None:
    logger.log(logging.INFO if progress else logging.DEBUG, message, *args)


class FinetuneMonitor:
    """``after_epoch`` of fine-tuning: every fold's validation error, patience and best weights.

    After each epoch it predicts each fold's VALID cells under that fold, feeds the errors to
    ``patience``, copies the improved folds' variables (``network.variables_in_order()``) into
    ``best``, appends each fold's loss and error to ``history`` while it trains, gates
    ``stage.active`` and returns True once every fold has stopped.

    Args:
        stage: The fine-tuning stage (``FinetuneStage`` or a subclass).
        x, y: (N, D) raw features and (N,) labels of all cells; roles: (N, F) fold roles.
    """

    def __init__(self, stage: FinetuneStage, patience: GeometricPatience, x: np.ndarray,
                 y: np.ndarray, roles: np.ndarray, history: list[dict[str, Any]],
                 progress: bool) -> None:
        self.stage, self.patience, self.history, self.progress = stage, patience, history, progress
        valid = [np.flatnonzero(roles[:, f] == ROLE_VALID) for f in range(roles.shape[1])]
        self.rows = np.full((len(valid), max(len(v) for v in valid)), -1, dtype=np.int64)
        for f, cells in enumerate(valid):
            self.rows[f, :len(cells)] = cells  # (F, V) each fold's own VALID cells
        self.x, self.y = x, y
        self.predictor = FoldPredictor(stage.network)
        self.variables = stage.network.variables_in_order()
        self.best = [ops.convert_to_numpy(v).copy() for v in self.variables]

    def __call__(self, epoch: int, seconds: float) -> bool:
        patience = self.patience
        active = patience.active.copy()  # the folds that trained this epoch
        loss = self.stage.take_epoch_loss()
        probabilities = predict_own_rows(self.predictor, self.x, self.rows)  # (V, F, C)
        present = self.rows.T >= 0
        wrong = (np.argmax(probabilities, axis=-1) != self.y[np.maximum(self.rows.T, 0)]) & present
        error = wrong.sum(axis=0) / present.sum(axis=0)
        improved = patience.update(epoch, error)
        if improved.any():
            for kept, variable in zip(self.best, self.variables):
                kept[improved] = ops.convert_to_numpy(variable)[improved]
        for fold in np.flatnonzero(active):
            self.history[fold]["finetune_loss"].append(float(loss[fold]))
            self.history[fold]["valid_error"].append(float(error[fold]))
        self.stage.active.assign(patience.active.astype(np.float32))
        _log(self.progress, "fine-tuning epoch %d: mean loss %.4f, %d/%d folds active, mean valid "
             "error %.4f (%.2f s)", epoch, float(np.nanmean(loss[active])),
             int(patience.active.sum()), len(active), float(np.mean(error[active])), seconds)
        return not patience.active.any()

    def finish(self) -> None:
        """Records each fold's ``best_epoch`` and ``stopped_epoch`` in ``history``."""
        for fold, record in enumerate(self.history):
            record["best_epoch"] = int(self.patience.best_epoch[fold])
            record["stopped_epoch"] = int(self.patience.epochs_run[fold])


def train_batched(x: np.ndarray, y: np.ndarray, roles: np.ndarray, n_classes: int,
                  config: SAAConfig, weights: FoldWeights, pretrain_layers: Sequence[int],
                  keys: np.ndarray, *, progress: bool = True) -> dict[str, Any]:
    """Pretrains ``pretrain_layers`` and fine-tunes all F folds as one model.

    Args:
        x: (N, D) float32 raw features; y: (N,) int label codes.
        roles: (N, F) int8 fold roles (1 = TRAIN, 2 = VALID).
        weights: Initial weights with fitted per-fold scalers.
        pretrain_layers: 0-based hidden layers to pretrain greedily, in order.
        keys: (F, k) network keys: each fold's cell order (``streams``).

    Returns:
        ``weights`` (FoldWeights, best epoch of each fold), ``history`` (per fold),
        ``epochs_run`` (F,), ``best_valid_error`` (F,), ``pretrain_seconds``, ``finetune_seconds``.
    """
    n_folds = roles.shape[1]
    n_hidden = len(weights.kernels)
    train = roles == ROLE_TRAIN

    network = FoldSAA(weights, dtype=config.dtype)
    cells = ResidentCells(x.astype(np.float32), y.astype(np.int32))
    history: list[dict[str, Any]] = [{"pretrain_loss": {}, "finetune_loss": [], "valid_error": []}
                                     for _ in range(n_folds)]

    def batches(stage: int) -> FoldBatches:
        return FoldBatches(train, config.batch_size, config.seed, keys, stage, config.shuffle)

    start = time.perf_counter()
    for layer in pretrain_layers:
        network.set_trainable([layer], logistic=False)
        stage = PretrainStage(network, cells, layer, config.reconstruction_loss)
        fit_stage(stage, batches(layer), config.pretrain_learning_rate, config.pretrain_epochs,
                  pretrain_logger(stage, layer, n_hidden, config.pretrain_epochs, history,
                                   progress))
    pretrain_seconds = time.perf_counter() - start if len(pretrain_layers) else 0.0

    start = time.perf_counter()
    network.set_trainable(None, logistic=True)
    stage = FinetuneStage(network, cells, n_classes)
    n_batches = np.maximum(1, np.ceil(train.sum(axis=0) / config.batch_size)).astype(np.int64)
    patience = GeometricPatience(n_batches, patience_epochs=config.patience_epochs,
                                 improvement_threshold=config.improvement_threshold,
                                 patience_increase=config.patience_increase,
                                 max_epochs=config.finetune_max_epochs)
    monitor = FinetuneMonitor(stage, patience, x, y, roles, history, progress)
    fit_stage(stage, batches(n_hidden), config.finetune_learning_rate, config.finetune_max_epochs,
              monitor)
    finetune_seconds = time.perf_counter() - start
    monitor.finish()
    return {"weights": FoldWeights.from_arrays(monitor.best), "history": history,
            "epochs_run": patience.epochs_run.copy(), "best_valid_error": patience.best_error.copy(),
            "pretrain_seconds": pretrain_seconds, "finetune_seconds": finetune_seconds}


def pretrain_logger(stage: FoldStage, layer: int, n_hidden: int, epochs: int,
                     history: list[dict[str, Any]], progress: bool) -> Callable[[int, float], bool]:
    """``after_epoch`` of pretraining hidden layer ``layer``: records and logs each fold's loss."""
    def after_epoch(epoch: int, seconds: float) -> bool:
        loss = stage.take_epoch_loss()
        for fold, record in enumerate(history):
            record["pretrain_loss"].setdefault(f"layer_{layer + 1}", []).append(float(loss[fold]))
        _log(progress, "pretraining layer %d/%d epoch %d/%d: mean loss %.4f, %d folds (%.2f s)",
             layer + 1, n_hidden, epoch, epochs, float(np.nanmean(loss)), len(history), seconds)
        return False
    return after_epoch


def predict_folds(weights: FoldWeights, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """(N, F, C) float32 class probabilities of cells ``x`` (N, D) under each fold's classifier."""
    return predict_blocks(FoldPredictor(FoldSAA(weights)), np.asarray(x, np.float32), batch_size)


def predict_blocks(predictor: FoldPredictor, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """(N, F, C) float32 class probabilities of ``x`` (N, D) under ``predictor``, by row blocks
    (compiled calls: cheaper than eager layer calls, and than ``Model.predict``'s set-up)."""
    n_folds, n_classes = predictor.network.logistic.bias.shape
    if not len(x):
        return np.zeros((0, n_folds, n_classes), np.float32)
    return in_batches(predictor.predict_on_batch, x, batch_size)


def predict_own_rows(predictor: FoldPredictor, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each fold's class probabilities of its own rows only: ``rows`` (F, R) indices into ``x``
    (N, D), -1 for none → (R, F, C) float32 (rows of -1 hold the prediction of row 0). One fold's
    rows are fed to that fold alone, (F, b, D) at a time, instead of every row to every fold."""
    n_folds, width = rows.shape
    n_classes = predictor.network.logistic.bias.shape[-1]
    block = max(1, PREDICT_BATCH * 512 // max(1, n_folds * x.shape[1]))
    parts = [ops.convert_to_numpy(predictor.predict_on_batch(x[np.maximum(rows[:, i:i + block], 0)]))
             for i in range(0, width, block)]
    return np.concatenate(parts) if parts else np.zeros((0, n_folds, n_classes), np.float32)
