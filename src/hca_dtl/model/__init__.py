"""Stacked autoassociators, greedy pretraining, fine-tuning and transfer (Keras 3, ``keras.ops`` only).

``train_folds`` trains every fold of a LOOCV plan, by default all folds as ONE fold-batched model
(``engine="batched"``), or one plain Keras ``SAAClassifier`` per fold (``engine="sequential"``,
the reference). ``train_folds_mlp`` does the same for the modern feed-forward learner
(``hca_dtl.model.mlp``).

Names are imported on first use (PEP 562), so that ``hca_dtl.model.config`` and
``hca_dtl.model.masks`` — all the Kedro registry and the parameter checks need — load without
Keras; ``hca_dtl.model.saving.load_model`` registers the custom layers before loading.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FoldEnsemble": "ensemble",
    "FoldEnsembleMLP": "mlp",
    "MLPClassifier": "mlp",
    "MLPConfig": "mlp",
    "train_folds_mlp": "mlp",
    "transfer_init_mlp": "mlp",
    "GeometricPatience": "patience",
    "MinMaxScaling": "layers",
    "SAAClassifier": "layers",
    "SAAConfig": "config",
    "SourceBank": "bank",
    "TiedAutoassociator": "layers",
    "TransferSetting": "masks",
    "fine_tune": "sequential",
    "load_model": "saving",
    "parse_transfer_mask": "masks",
    "pretrain_greedy": "sequential",
    "reconstruction_loss": "layers",
    "save_model": "saving",
    "train_folds": "training",
    "transfer_init": "transfer",
    "transfer_setting": "masks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hca_dtl.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hca_dtl.model.{_EXPORTS[name]}"), name)
