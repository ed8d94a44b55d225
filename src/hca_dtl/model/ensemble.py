"""The result of fold-batched (or sequential) training: F trained SAA classifiers."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hca_dtl.model.batched import PREDICT_BATCH, predict_folds
from hca_dtl.model.config import SAAConfig
from hca_dtl.model.layers import SAAClassifier
from hca_dtl.model.weights import FoldWeights, set_classifier_weights


@dataclasses.dataclass
class FoldEnsemble:
    """F trained classifiers, one per fold of a plan.

    Attributes:
        weights: Each fold's weights at its best validation epoch.
        config: The settings they were trained with.
        n_classes: Classes C.
        history: Per fold: ``pretrain_loss`` ({``layer_<k>``: loss per epoch}), ``finetune_loss``
            and ``valid_error`` per epoch, ``best_epoch``, ``stopped_epoch`` (1-based).
        epochs_run: (F,) fine-tuning epochs each fold ran.
        best_valid_error: (F,) validation error (1 − cell accuracy) of the kept weights.
        timings: ``pretrain_seconds``, ``finetune_seconds``, ``wall_seconds``.
        engine: ``batched`` or ``sequential``.
    """

    weights: FoldWeights
    config: SAAConfig
    n_classes: int
    history: list[dict[str, Any]]
    epochs_run: np.ndarray
    best_valid_error: np.ndarray
    timings: dict[str, float]
    engine: str

    @property
    def n_folds(self) -> int:
        return self.weights.n_folds

    def predict_proba(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(N, F, C) float32 class probabilities of cells ``x`` (N, D raw features) under each fold."""
        return predict_folds(self.weights, x, batch_size)

    def predict(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(N, F) int predicted class code of each cell under each fold."""
        return np.argmax(self.predict_proba(x, batch_size), axis=-1)

    def to_keras_model(self, fold: int, metadata: dict[str, Any] | None = None) -> SAAClassifier:
        """Fold ``fold``'s classifier as a plain, savable ``SAAClassifier`` carrying ``metadata``."""
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold {fold} out of range: the ensemble has {self.n_folds} folds")
        model = SAAClassifier(self.weights.minimum.shape[1], self.config.hidden_units,
                              self.n_classes, metadata=metadata)
        set_classifier_weights(model, self.weights.fold(fold))
        return model
