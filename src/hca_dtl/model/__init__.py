"""Stacked autoassociators, greedy pretraining, fine-tuning and transfer (Keras 3, ``keras.ops`` only).

``train_folds`` trains every fold of a LOOCV plan, by default all folds as ONE fold-batched model
(``engine="batched"``), or one plain Keras ``SAAClassifier`` per fold (``engine="sequential"``,
the reference). ``train_folds_mlp`` does the same for the modern feed-forward learner
(``hca_dtl.model.mlp``). Importing this package registers the custom layers for ``load_model``.
"""

from hca_dtl.model.config import SAAConfig
from hca_dtl.model.ensemble import FoldEnsemble
from hca_dtl.model.layers import MinMaxScaling, SAAClassifier, TiedAutoassociator, reconstruction_loss
from hca_dtl.model.mlp import (FoldEnsembleMLP, MLPClassifier, MLPConfig, train_folds_mlp,
                               transfer_init_mlp)
from hca_dtl.model.patience import GeometricPatience
from hca_dtl.model.saving import load_model, save_model
from hca_dtl.model.sequential import fine_tune, pretrain_greedy
from hca_dtl.model.training import train_folds
from hca_dtl.model.transfer import TransferSetting, parse_transfer_mask, transfer_init, transfer_setting

__all__ = [
    "FoldEnsemble",
    "FoldEnsembleMLP",
    "GeometricPatience",
    "MLPClassifier",
    "MLPConfig",
    "MinMaxScaling",
    "SAAClassifier",
    "SAAConfig",
    "TiedAutoassociator",
    "TransferSetting",
    "fine_tune",
    "load_model",
    "parse_transfer_mask",
    "pretrain_greedy",
    "reconstruction_loss",
    "save_model",
    "train_folds",
    "train_folds_mlp",
    "transfer_init",
    "transfer_setting",
    "transfer_init_mlp",
]
