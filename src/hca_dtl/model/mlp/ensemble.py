"""The result of training the MLP learner: F trained MLP classifiers."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hca_dtl.model.batched import PREDICT_BATCH
from hca_dtl.model.ensemble import FoldEnsemble
from hca_dtl.model.mlp.batched import predict_folds_mlp
from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.layers import MLPClassifier
from hca_dtl.model.mlp.weights import MLPFoldWeights, set_classifier_weights_mlp


@dataclasses.dataclass
class FoldEnsembleMLP(FoldEnsemble):
    """F trained MLP classifiers, one per fold; the interface of the SAA's ``FoldEnsemble``
    (``predict_proba``, ``predict``, ``to_keras_model``, ``epochs_run``, ``best_valid_error``,
    ``timings``, ``history``, ``n_folds``, ``engine``).

    Attributes:
        weights: Each fold's weights at its best validation epoch.
        config: The settings they were trained with.
    """

    weights: MLPFoldWeights
    config: MLPConfig

    def predict_proba(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(N, F, C) float32 class probabilities of cells ``x`` (N, D raw features) under each fold."""
        return predict_folds_mlp(self.weights, self.config.activation, x, batch_size)

    def to_keras_model(self, fold: int, metadata: dict[str, Any] | None = None) -> MLPClassifier:
        """Fold ``fold``'s classifier as a plain, savable ``MLPClassifier`` carrying ``metadata``."""
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold {fold} out of range: the ensemble has {self.n_folds} folds")
        model = MLPClassifier(self.weights.mean.shape[1], self.config.hidden_units, self.n_classes,
                              self.config.activation, self.config.layer_norm, metadata=metadata)
        set_classifier_weights_mlp(model, self.weights.fold(fold))
        return model
