"""The modern member of the SAA's family: a feed-forward classifier ("mlp" learner).

ReLU/GELU layers with optional layer normalisation and dropout, AdamW with decoupled weight
decay, inputs standardised per fold on its TRAIN cells, optional greedy denoising-autoencoder
pretraining, and the SAA's early stopping, fold batching, network keys and transfer masks. In
``keras.ops`` only. ``train_folds_mlp`` has the contract of ``hca_dtl.model.train_folds``.
Names are imported on first use, so ``MLPConfig`` loads without Keras;
``hca_dtl.model.saving.load_model`` registers ``MLPClassifier`` and its layers.

No batch normalisation: per-fold batch statistics over a fold's present cells, with running
averages frozen on its idle and stopped steps, would keep folds independent, but a batch of a
well table holds a few dozen wells (a fold's last one, a handful), too few for stable batch
statistics, and a cell's prediction would depend on its batch in training; layer normalisation
normalises each cell on its own and needs none of that.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DenseBlock": "layers",
    "FoldAdamW": "optimizer",
    "FoldEnsembleMLP": "ensemble",
    "FoldMLP": "batched",
    "MLPClassifier": "layers",
    "MLPConfig": "config",
    "MLPFoldWeights": "weights",
    "Standardization": "layers",
    "TrainingRange": "layers",
    "fine_tune_mlp": "sequential",
    "pretrain_denoising": "sequential",
    "train_folds_mlp": "training",
    "transfer_init_mlp": "transfer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hca_dtl.model.mlp' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hca_dtl.model.mlp.{_EXPORTS[name]}"), name)
