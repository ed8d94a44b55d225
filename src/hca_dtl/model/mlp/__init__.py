"""The modern member of the SAA's family: a feed-forward classifier ("mlp" learner).

ReLU/GELU layers with optional layer normalisation and dropout, AdamW with decoupled weight
decay, inputs standardised per fold on its TRAIN cells, optional greedy denoising-autoencoder
pretraining, and the SAA's early stopping, fold batching, network keys and transfer masks. In
``keras.ops`` only. ``train_folds_mlp`` has the contract of ``hca_dtl.model.train_folds``.
Importing this package registers ``MLPClassifier`` and its layers for ``load_model``.

No batch normalisation: per-fold batch statistics over a fold's present cells, with running
averages frozen on its idle and stopped steps, would keep folds independent, but a batch of a
well table holds a few dozen wells (a fold's last one, a handful), too few for stable batch
statistics, and a cell's prediction would depend on its batch in training; layer normalisation
normalises each cell on its own and needs none of that.
"""

from hca_dtl.model.mlp.batched import FoldMLP
from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.ensemble import FoldEnsembleMLP
from hca_dtl.model.mlp.layers import DenseBlock, MLPClassifier, Standardization, TrainingRange
from hca_dtl.model.mlp.optimizer import FoldAdamW
from hca_dtl.model.mlp.sequential import fine_tune_mlp, pretrain_denoising
from hca_dtl.model.mlp.training import train_folds_mlp
from hca_dtl.model.mlp.transfer import transfer_init_mlp
from hca_dtl.model.mlp.weights import MLPFoldWeights

__all__ = [
    "DenseBlock",
    "FoldAdamW",
    "FoldEnsembleMLP",
    "FoldMLP",
    "MLPClassifier",
    "MLPConfig",
    "MLPFoldWeights",
    "Standardization",
    "TrainingRange",
    "fine_tune_mlp",
    "pretrain_denoising",
    "train_folds_mlp",
    "transfer_init_mlp",
]
