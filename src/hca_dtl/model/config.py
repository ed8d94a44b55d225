"""Settings of a stacked autoassociator and its training (the paper's and the tutorial's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hca_dtl.config import config_from_dict

RECONSTRUCTION_LOSSES = ("cross_entropy", "mse")
DTYPES = ("float32", "bfloat16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class SAAConfig:
    """Network shape and optimisation settings; defaults are the paper's (Kandaswamy et al. 2016).

    Attributes:
        hidden_units: Units of hidden layers 1..K (the paper: seven layers of 500).
        pretrain_learning_rate: Plain-SGD step size of greedy layerwise pretraining.
        pretrain_epochs: Pretraining epochs per hidden layer.
        finetune_learning_rate: Plain-SGD step size of supervised fine-tuning.
        finetune_max_epochs: Cap on fine-tuning epochs (early stopping usually ends sooner).
        batch_size: Cells per mini-batch (pretraining and fine-tuning).
        patience_epochs: Initial patience, in epochs (the tutorial's 10 000 updates at batch 1).
        improvement_threshold: A validation error below ``best * threshold`` is a significant
            improvement and extends the patience.
        patience_increase: Patience becomes at least ``updates * patience_increase``.
        reconstruction_loss: ``cross_entropy`` (summed over features) or ``mse``.
        seed: Seeds initial weights and the order of mini-batches.
        shuffle: Reshuffle the cells every epoch (off: cells in their given order).
        dtype: ``float32``; ``mixed_bfloat16`` computes in bfloat16 with float32 weights;
            ``bfloat16`` keeps weights in bfloat16 too.
    """

    hidden_units: tuple[int, ...] = (500,) * 7
    pretrain_learning_rate: float = 0.001
    pretrain_epochs: int = 60
    finetune_learning_rate: float = 0.1
    finetune_max_epochs: int = 1000
    batch_size: int = 128
    patience_epochs: int = 10
    improvement_threshold: float = 0.995
    patience_increase: float = 2.0
    reconstruction_loss: str = "cross_entropy"
    seed: int = 0
    shuffle: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in self.hidden_units))
        if not self.hidden_units or min(self.hidden_units) < 1:
            raise ValueError(f"hidden_units must be one or more positive sizes, got {self.hidden_units}")
        for name in ("pretrain_epochs", "finetune_max_epochs", "batch_size", "patience_epochs"):
            if int(getattr(self, name)) < (0 if name == "pretrain_epochs" else 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("pretrain_learning_rate", "finetune_learning_rate", "improvement_threshold",
                     "patience_increase"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.reconstruction_loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction_loss must be one of {RECONSTRUCTION_LOSSES}, "
                             f"got {self.reconstruction_loss!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> SAAConfig:
        """Builds a config from a parameters mapping (e.g. Kedro's ``params:saa``).

        Raises:
            ValueError: ``params`` holds keys that are not fields (named in the message).
        """
        return config_from_dict(cls, params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``hidden_units`` as a list), the inverse of ``from_dict``."""
        params = dataclasses.asdict(self)
        params["hidden_units"] = list(self.hidden_units)
        return params
