"""Settings of the modern feed-forward learner ("mlp") and its training."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from hca_dtl.config import config_from_dict
from hca_dtl.model.config import DTYPES

ACTIVATIONS = ("relu", "gelu")
PRETRAINING = ("none", "denoising")


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """Network shape and optimisation settings of the MLP learner.

    The defaults suit both scales the project meets: ~100–300 training wells of a well-profile
    table and ~100k single cells. Two hidden layers of 500 ReLU units are the network that
    scikit-learn's ``MLPClassifier`` (Adam, L2) was measured with in issue 22, so the two are
    comparable; dropout 0.2 and decoupled weight decay 0.01 regularise it where a few hundred
    wells are all there is. A batch of 64 gives a well table several Adam updates per epoch (an
    epoch of 128 would be one or two) and 100k cells ~1,500; the patience of 20 epochs of updates
    (doubled on each 0.5 % improvement) lets Adam's noisy validation curve settle, and 300 epochs
    cap a run that never stops. Pretraining is off: ReLU networks with Adam need none; the
    denoising option is there to test whether it helps, as the paper's SAA pretraining did.

    Attributes:
        hidden_units: Units of hidden layers 1..K.
        activation: ``relu`` or ``gelu`` (exact, erf form).
        layer_norm: Layer normalisation of each hidden layer's pre-activation (learned scale
            ``gamma`` and shift ``beta``, ε = 1e-5).
        dropout: Dropout rate after each hidden layer in fine-tuning, in [0, 1).
        learning_rate: AdamW step size of fine-tuning (β₁ 0.9, β₂ 0.999, ε 1e-7: Keras').
        weight_decay: Decoupled weight decay of AdamW (kernels only; not biases, ``gamma``,
            ``beta``): each step multiplies a kernel by ``1 − learning_rate × weight_decay``.
        batch_size: Cells per mini-batch (pretraining and fine-tuning).
        max_epochs: Cap on fine-tuning epochs (early stopping usually ends sooner).
        patience_epochs: Initial patience, in epochs' worth of updates (``GeometricPatience``).
        improvement_threshold: A validation error below ``best × threshold`` extends the patience.
        patience_increase: Patience becomes at least ``updates × patience_increase``.
        pretrain: ``none`` or ``denoising``: greedy layerwise denoising-autoencoder pretraining
            of the hidden layers on the fold's TRAIN cells (the SdA of the Theano tutorial).
        pretrain_epochs: Pretraining epochs per hidden layer.
        pretrain_learning_rate: Adam step size of pretraining (no weight decay).
        corruption: Share of a pretrained layer's inputs set to 0 (masking noise), in [0, 1).
        freeze_transferred_epochs: Fine-tuning epochs during which transferred layers (those
            given by ``init``) stay frozen; then every layer trains, with a fresh optimizer.
        seed: Seeds initial weights, cell orders and noise (with each network's key).
        shuffle: Reshuffle the cells every epoch (off: cells in their given order).
        dtype: ``float32``; ``mixed_bfloat16`` computes in bfloat16 with float32 weights;
            ``bfloat16`` keeps weights in bfloat16 too (batched engine only).
    """

    hidden_units: tuple[int, ...] = (500, 500)
    activation: str = "relu"
    layer_norm: bool = False
    dropout: float = 0.2
    learning_rate: float = 0.001
    weight_decay: float = 0.01
    batch_size: int = 64
    max_epochs: int = 300
    patience_epochs: int = 20
    improvement_threshold: float = 0.995
    patience_increase: float = 2.0
    pretrain: str = "none"
    pretrain_epochs: int = 20
    pretrain_learning_rate: float = 0.001
    corruption: float = 0.2
    freeze_transferred_epochs: int = 0
    seed: int = 0
    shuffle: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if isinstance(self.hidden_units, (str, bytes)) or not _is_sequence(self.hidden_units):
            raise ValueError(f"hidden_units must be a list of positive sizes, got {self.hidden_units!r}")
        units = tuple(self.hidden_units)
        if not units or not all(_is_int(u) and u >= 1 for u in units):
            raise ValueError(f"hidden_units must be one or more positive integers, got {units!r}")
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in units))
        for name, minimum in (("batch_size", 1), ("max_epochs", 1), ("patience_epochs", 1),
                              ("pretrain_epochs", 0), ("freeze_transferred_epochs", 0), ("seed", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        for name in ("learning_rate", "pretrain_learning_rate", "patience_increase"):
            if not _is_number(getattr(self, name)) or not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not _is_number(self.weight_decay) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not _is_number(self.improvement_threshold) or not 0 < self.improvement_threshold <= 1:
            raise ValueError("improvement_threshold must be in (0, 1], got "
                             f"{self.improvement_threshold!r}")
        for name in ("dropout", "corruption"):
            if not _is_number(getattr(self, name)) or not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        for name in ("layer_norm", "shuffle"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, allowed in (("activation", ACTIVATIONS), ("pretrain", PRETRAINING),
                              ("dtype", DTYPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for field in dataclasses.fields(self):  # plain Python numbers, so to_dict is JSON
            if field.type in ("int", "float"):
                object.__setattr__(self, field.name, {"int": int, "float": float}[field.type](
                    getattr(self, field.name)))

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> MLPConfig:
        """Builds a config from a parameters mapping (e.g. Kedro's ``params:mlp``).

        Raises:
            ValueError: ``params`` holds keys that are not fields (named in the message), or a
                value out of range (named).
        """
        return config_from_dict(cls, params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``hidden_units`` as a list), the inverse of ``from_dict``."""
        params = dataclasses.asdict(self)
        params["hidden_units"] = list(self.hidden_units)
        return params


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))
