"""The sequential per-fold reference: one plain Keras ``SAAClassifier`` trained per fold.

``pretrain_greedy`` and ``fine_tune`` use ``Model.fit`` on one fold's cells only; the fold-batched
engine (``hca_dtl.model.batched``) must give the same result (tests/model).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from hca_dtl.model.config import SAAConfig
from hca_dtl.model.layers import SAAClassifier, TiedAutoassociator, reconstruction_loss
from hca_dtl.model.patience import GeometricPatience
from hca_dtl.model.streams import epoch_order

logger = logging.getLogger(__name__)

PREDICT_BATCH = 4096


class _Reconstruction(keras.Model):
    """Trains one autoassociator to reconstruct its input: (cells × d_in) → reconstruction logits."""

    def __init__(self, layer: TiedAutoassociator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.autoassociator = layer

    def call(self, inputs: Any) -> Any:
        return self.autoassociator.reconstruction_logits(self.autoassociator(inputs))


def in_batches(function: Any, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Applies a keras.ops function to row blocks of ``x``; numpy out."""
    parts = [ops.convert_to_numpy(function(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def pretrain_greedy(model: SAAClassifier, x_train: np.ndarray, config: SAAConfig, *,
                    layers: list[int] | None = None,
                    key: Sequence[int] = (0,)) -> dict[str, list[float]]:
    """Greedy layerwise pretraining of a classifier's encoders, in place.

    Layer k reconstructs the output of the (frozen) layers below it, scaled input for layer 1, by
    plain SGD (``pretrain_learning_rate``, ``pretrain_epochs`` epochs, ``batch_size``) on the mean
    over cells of ``config.reconstruction_loss``.

    Args:
        model: A classifier whose scaler is already fitted on ``x_train``.
        x_train: (n_train, D) raw features of the fold's TRAIN cells.
        layers: 0-based hidden layers to pretrain (default all).
        key: The network's key: its cell order in each epoch (``streams.epoch_order``).

    Returns:
        Mean reconstruction loss per epoch of each pretrained layer, keyed ``layer_<k>`` (1-based).
    """
    layers = list(range(len(model.encoders))) if layers is None else sorted(layers)
    losses: dict[str, list[float]] = {}
    if not layers:
        return losses
    hidden = in_batches(model.scaling, x_train)
    for k, encoder in enumerate(model.encoders[:max(layers) + 1]):
        if k in layers:
            trainer = _Reconstruction(encoder, name=f"reconstruction_{k + 1}")
            trainer.compile(optimizer=keras.optimizers.SGD(config.pretrain_learning_rate),
                            loss=lambda target, logits: reconstruction_loss(
                                target, logits, config.reconstruction_loss))
            history = losses.setdefault(f"layer_{k + 1}", [])
            for epoch in range(config.pretrain_epochs):
                start = time.perf_counter()
                order = epoch_order(np.arange(len(hidden)), config.seed, key, k, epoch,
                                    config.shuffle)
                fit = trainer.fit(hidden[order], hidden[order], batch_size=config.batch_size,
                                  epochs=1, shuffle=False, verbose=0)
                history.append(float(fit.history["loss"][0]))
                logger.debug("pretraining layer %d epoch %d: loss %.4f (%.2f s)", k + 1, epoch + 1,
                             history[-1], time.perf_counter() - start)
        hidden = in_batches(encoder, hidden)
    return losses


def fine_tune(model: SAAClassifier, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray,
              y_valid: np.ndarray, config: SAAConfig, *,
              key: Sequence[int] = (0,)) -> dict[str, Any]:
    """Supervised fine-tuning of the whole classifier with geometric-patience early stopping.

    Plain SGD (``finetune_learning_rate``) on mini-batches of categorical cross-entropy; after each
    epoch the validation error (1 − cell accuracy on ``x_valid``) feeds ``GeometricPatience``; the
    weights of the best epoch are restored at the end.

    Args:
        x_train, y_train: (n_train, D) raw features and (n_train,) label codes.
        x_valid, y_valid: (n_valid, D) and (n_valid,) validation cells.
        key: The network's key: its cell order in each epoch (``streams.epoch_order``, stage K).

    Returns:
        ``finetune_loss`` and ``valid_error`` per epoch, ``best_epoch``, ``stopped_epoch``,
        ``best_valid_error``.
    """
    model.compile(optimizer=keras.optimizers.SGD(config.finetune_learning_rate),
                  loss="sparse_categorical_crossentropy")
    patience = GeometricPatience(np.array([math.ceil(len(x_train) / config.batch_size)]),
                                 patience_epochs=config.patience_epochs,
                                 improvement_threshold=config.improvement_threshold,
                                 patience_increase=config.patience_increase,
                                 max_epochs=config.finetune_max_epochs)
    best = model.get_weights()
    losses, errors = [], []
    for encoder in model.encoders:  # the decoders play no part in classification
        encoder.decoder_bias.trainable = False
    try:
        for epoch in range(1, config.finetune_max_epochs + 1):
            order = epoch_order(np.arange(len(x_train)), config.seed, key, len(model.encoders),
                                epoch - 1, config.shuffle)
            fit = model.fit(x_train[order], y_train[order], batch_size=config.batch_size,
                            epochs=1, shuffle=False, verbose=0)
            losses.append(float(fit.history["loss"][0]))
            predicted = np.argmax(in_batches(model, x_valid), axis=-1)
            errors.append(float(np.mean(predicted != y_valid)))
            if patience.update(epoch, np.array([errors[-1]]))[0]:
                best = model.get_weights()
            logger.debug("fine-tuning epoch %d: loss %.4f, valid error %.4f", epoch, losses[-1],
                         errors[-1])
            if not patience.active[0]:
                break
    finally:
        for encoder in model.encoders:
            encoder.decoder_bias.trainable = True
    model.set_weights(best)
    return {"finetune_loss": losses, "valid_error": errors, "best_epoch": int(patience.best_epoch[0]),
            "stopped_epoch": int(patience.epochs_run[0]),
            "best_valid_error": float(patience.best_error[0])}
