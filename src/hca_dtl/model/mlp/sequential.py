"""The sequential per-fold reference: one plain Keras ``MLPClassifier`` trained per fold.

``pretrain_denoising`` and ``fine_tune_mlp`` use ``Model.fit`` with Keras' own Adam / AdamW on
one fold's cells only, one ``fit`` per epoch; the fold-batched engine must give the same result
(tests/model/test_mlp.py). The model is fed each cell's index beside its features, for the keyed
noise (``functions.keyed_uniform``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from typing import Any

import keras
import numpy as np

from hca_dtl.model.mlp import functions
from hca_dtl.model.mlp.batched import finetune_phases
from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.layers import DenseBlock, MLPClassifier
from hca_dtl.model.mlp.optimizer import BETA_1, BETA_2, EPSILON, keras_adamw
from hca_dtl.model.patience import GeometricPatience
from hca_dtl.model.sequential import in_batches
from hca_dtl.model.streams import epoch_order, noise_keys

logger = logging.getLogger(__name__)


class _Denoising(keras.Model):
    """Trains one block to reconstruct its clean input from a masked copy:
    (inputs (B, d_in), cells (B,)) → reconstruction (B, d_in)."""

    def __init__(self, block: DenseBlock, corruption: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block, self.corruption = block, corruption
        d_in = block.kernel.shape[0]
        self.decoder_bias = self.add_weight(shape=(d_in,), initializer="zeros", name="decoder_bias")
        self.noise_key = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                         trainable=False, name="noise_key")

    def call(self, inputs: tuple[Any, Any]) -> Any:
        clean, cells = inputs
        corrupted = clean
        if self.corruption > 0:
            uniform = functions.keyed_uniform(self.noise_key, cells, clean.shape[-1])
            corrupted = functions.mask_noise(clean, uniform, self.corruption)
        return self.block.decode(self.block(corrupted), self.decoder_bias)


class _Finetuning(keras.Model):
    """(x (B, D), cells (B,)) → (B, C) logits of a classifier, with keyed dropout."""

    def __init__(self, classifier: MLPClassifier, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classifier, self.rate = classifier, dropout
        self.noise_keys = self.add_weight(shape=(len(classifier.blocks),), initializer="zeros",
                                          dtype="int32", trainable=False, name="noise_keys")

    def call(self, inputs: tuple[Any, Any]) -> Any:
        x, cells = inputs
        return self.classifier.logits(x, dropout=(self.rate, self.noise_keys, cells))


def pretrain_denoising(model: MLPClassifier, x_train: np.ndarray, cells: np.ndarray,
                       config: MLPConfig, *, layers: Sequence[int],
                       key: Sequence[int] = (0,)) -> dict[str, list[float]]:
    """Greedy layerwise denoising-autoencoder pretraining of a classifier's blocks, in place.

    Layer k learns to reconstruct, through a linear tied-weight decoder, the output of the
    (frozen) layers below (standardised input for layer 1) from a masked copy of it, by Adam
    (``pretrain_learning_rate``) on the mean squared error, ``pretrain_epochs`` epochs.

    Args:
        model: A classifier whose standardisation is already fitted on ``x_train``.
        x_train: (n_train, D) raw features of the fold's TRAIN cells.
        cells: (n_train,) their indices among all cells (the keyed noise is a function of them).
        layers: 0-based hidden layers to pretrain.
        key: The network's key (cell orders and noise, ``streams``).

    Returns:
        Mean reconstruction loss per epoch of each pretrained layer, keyed ``layer_<k>`` (1-based).
    """
    losses: dict[str, list[float]] = {}
    if not layers:
        return losses
    hidden = in_batches(model.standardization, x_train)
    for k, block in enumerate(model.blocks[:max(layers) + 1]):
        if k in layers:
            trainer = _Denoising(block, config.corruption, name=f"denoising_{k + 1}")
            trainer.compile(optimizer=keras.optimizers.Adam(
                config.pretrain_learning_rate, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
                loss="mean_squared_error")
            history = losses.setdefault(f"layer_{k + 1}", [])
            for epoch in range(config.pretrain_epochs):
                trainer.noise_key.assign(noise_keys(config.seed, key, k, epoch, 1)[0])
                order = epoch_order(np.arange(len(hidden)), config.seed, key, k, epoch,
                                    config.shuffle)
                fit = trainer.fit((hidden[order], cells[order]), hidden[order],
                                  batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0)
                history.append(float(fit.history["loss"][0]))
        hidden = in_batches(block, hidden)
    return losses


def fine_tune_mlp(model: MLPClassifier, x_train: np.ndarray, y_train: np.ndarray,
                  cells: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray, config: MLPConfig,
                  *, frozen_layers: Collection[int] = (), key: Sequence[int] = (0,)) -> dict[str, Any]:
    """Supervised fine-tuning with keyed dropout, AdamW and geometric-patience early stopping.

    Keras' AdamW (``learning_rate``, ``weight_decay``; biases and layer-norm parameters not
    decayed) on mini-batches of categorical cross-entropy; after each epoch the validation error
    (1 − cell accuracy on ``x_valid``) feeds ``GeometricPatience``; the best epoch's weights are
    restored at the end. Layers ``frozen_layers`` (0-based; K = logistic) stay frozen for the
    first ``freeze_transferred_epochs`` epochs, after which a fresh AdamW trains every layer.

    Args:
        x_train, y_train: (n_train, D) raw features and (n_train,) label codes.
        cells: (n_train,) the TRAIN cells' indices among all cells (keyed dropout).
        x_valid, y_valid: (n_valid, D) and (n_valid,) validation cells.
        key: The network's key (cell orders and noise, stage K).

    Returns:
        ``finetune_loss`` and ``valid_error`` per epoch, ``best_epoch``, ``stopped_epoch``,
        ``best_valid_error``.
    """
    n_hidden = len(model.blocks)
    trainer = _Finetuning(model, config.dropout, name="finetuning")
    patience = GeometricPatience(np.array([math.ceil(len(x_train) / config.batch_size)]),
                                 patience_epochs=config.patience_epochs,
                                 improvement_threshold=config.improvement_threshold,
                                 patience_increase=config.patience_increase,
                                 max_epochs=config.max_epochs)
    best = model.get_weights()
    losses, errors = [], []
    epoch = 0
    try:
        for epochs, frozen in finetune_phases(config, frozen_layers):
            for k, layer in enumerate([*model.blocks, model.logistic]):
                layer.trainable = k not in frozen
            trainer.compile(optimizer=keras_adamw(config.learning_rate, config.weight_decay),
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            for epoch in range(epoch + 1, epoch + epochs + 1):
                trainer.noise_keys.assign(noise_keys(config.seed, key, n_hidden, epoch - 1, n_hidden))
                order = epoch_order(np.arange(len(x_train)), config.seed, key, n_hidden, epoch - 1,
                                    config.shuffle)
                fit = trainer.fit((x_train[order], cells[order]), y_train[order],
                                  batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0)
                losses.append(float(fit.history["loss"][0]))
                errors.append(float(np.mean(np.argmax(in_batches(model, x_valid), -1) != y_valid)))
                if patience.update(epoch, np.array([errors[-1]]))[0]:
                    best = model.get_weights()
                logger.debug("fine-tuning epoch %d: loss %.4f, valid error %.4f", epoch,
                             losses[-1], errors[-1])
                if not patience.active[0]:
                    break
            if not patience.active[0]:
                break
    finally:
        for layer in [*model.blocks, model.logistic]:
            layer.trainable = True
    model.set_weights(best)
    return {"finetune_loss": losses, "valid_error": errors, "best_epoch": int(patience.best_epoch[0]),
            "stopped_epoch": int(patience.epochs_run[0]),
            "best_valid_error": float(patience.best_error[0])}

