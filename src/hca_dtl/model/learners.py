"""The learners a fold can train, by name: each brings its configuration class, its fold-batched
``train_folds`` and its ``transfer_init``, so the LOOCV harness treats them alike.

Training code (Keras) is imported on first use: the registry and the parameter checks only need
the configuration classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hca_dtl.model.config import SAAConfig
from hca_dtl.model.mlp.config import MLPConfig


def _function(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Learner:
    """A family of networks the harness can train fold-batched.

    Attributes:
        name: Its name in ``conf/`` (``saa``) and its parameters section (``params:saa``).
        config_class: Frozen dataclass of its settings (``from_dict``, ``to_dict``,
            ``hidden_units``).
        trainer: ``"module:function"`` of its ``train_folds(x, y, roles, n_classes, config, *,
            init, pretrain, engine, network_keys, progress) -> ensemble`` (``predict_proba``,
            ``to_keras_model``, ``epochs_run``, ``best_valid_error``, ``timings``).
        initialiser: ``"module:function"`` of its ``transfer_init(source_model, mask,
            target_classes) -> init``.
    """

    name: str
    config_class: type
    trainer: str
    initialiser: str

    def config(self, params: Mapping[str, Any]) -> Any:
        """Its configuration from a parameters mapping (unknown keys raise ``ValueError``)."""
        return self.config_class.from_dict(params)

    def train_folds(self, *args: Any, **kwargs: Any) -> Any:
        return _function(self.trainer)(*args, **kwargs)

    def transfer_init(self, *args: Any, **kwargs: Any) -> Any:
        return _function(self.initialiser)(*args, **kwargs)


LEARNERS: dict[str, Learner] = {
    "saa": Learner("saa", SAAConfig, "hca_dtl.model.training:train_folds",
                   "hca_dtl.model.transfer:transfer_init"),
    "mlp": Learner("mlp", MLPConfig, "hca_dtl.model.mlp.training:train_folds_mlp",
                   "hca_dtl.model.mlp.transfer:transfer_init_mlp"),
}


def learner(name: str) -> Learner:
    """The learner called ``name``.

    Raises:
        ValueError: Unknown name (the known ones listed).
    """
    if name not in LEARNERS:
        raise ValueError(f"Unknown learner {name!r}; choose one of {sorted(LEARNERS)}.")
    return LEARNERS[name]
