"""What a LOOCV unit is configured with — the harness settings (``params:loocv``), the methods a
grid runs and the baselines' options — read and checked without importing Keras or
scikit-learn, so the Kedro registry and the parameter checks are fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hca_dtl.config import config_from_dict
from hca_dtl.evaluation.selection import SELECTIONS, candidate_values
from hca_dtl.model.masks import BASELINE, TransferSetting

KINDS = ("network", "baseline", "nearest_neighbour")
ENGINES = ("batched", "sequential")

# The paper's ranges (linear C 0.001…50,000; RBF C 1…1000, gamma 0.001…0.00001, 1 % of the
# training cells) as candidates (``hca_dtl.evaluation.selection``). ``train_fraction`` /
# ``min_train_cells`` / ``max_train_cells`` bound a seeded subsample of each fold's TRAIN cells
# (None: no upper bound).
DEFAULTS: dict[str, dict[str, Any]] = {
    "svm_linear": {"C": {"candidates": [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000, 50000]},
                   "epochs": 20, "train_fraction": 1.0, "min_train_cells": 0,
                   "max_train_cells": None},
    "svm_rbf": {"C": {"candidates": [1, 10, 100, 1000]},
                "gamma": {"candidates": [0.001, 0.0001, 0.00001]},
                "train_fraction": 0.01, "min_train_cells": 500, "max_train_cells": 2000},
    "logistic_regression": {"C": {"candidates": [0.001, 0.01, 0.1, 1, 10, 100]}, "max_iter": 500,
                            "train_fraction": 1.0, "min_train_cells": 0, "max_train_cells": None},
}
HYPERPARAMETERS = {"svm_linear": ("C",), "svm_rbf": ("C", "gamma"), "logistic_regression": ("C",)}


def baseline_options(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``DEFAULTS[name]`` overridden key by key by ``params`` (and ``seed``, default 0).

    Raises:
        ValueError: Unknown method or key, or a hyperparameter given as a plain list (a grid is
            written ``{candidates: [...]}``) — each named.
    """
    if name not in DEFAULTS:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {sorted(DEFAULTS)}.")
    unknown = sorted(set(params) - set(DEFAULTS[name]) - {"seed"})
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for baseline {name!r}; known: "
                         f"{sorted(DEFAULTS[name])} and seed.")
    for key in HYPERPARAMETERS[name]:
        if isinstance(params.get(key), (list, tuple)):
            raise ValueError(f"Baseline {name!r}: {key} = {params[key]!r} is a plain list; write a "
                             f"grid as {{candidates: {list(params[key])}}} (chosen inside each fold).")
    return {**DEFAULTS[name], "seed": 0, **params}


@dataclass(frozen=True)
class LOOCVConfig:
    """The harness's settings (``params:loocv``), shared by every grid.

    Attributes:
        n_repetitions: Repetitions of the fold plan (each redraws validation wells and networks).
        repetitions_per_unit: Repetitions trained together in one unit (one Kedro node).
        validation_fraction: Share of each MOA's training wells used for early stopping.
        seed: Seed of the fold plans (validation wells, inner folds).
        members: Networks per fold, probabilities averaged (or ``{candidates: [...]}``).
        engine: ``batched`` (all folds as one model) or ``sequential`` (per-fold reference).
        selection: How a fold chooses among candidates (``selection.SELECTIONS``).
        inner_folds: Inner folds per fold under ``inner_compounds``.
        max_networks_per_model: At most this many networks (folds × members) train as one
            batched model; more train block by block, with the same results (networks are
            keyed). Bounds memory; None: no bound.
    """

    n_repetitions: int = 1
    repetitions_per_unit: int = 1
    validation_fraction: float = 0.2
    seed: int = 0
    members: Any = 1
    engine: str = "batched"
    selection: str = "validation_wells"
    inner_folds: int = 3
    max_networks_per_model: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_repetitions", "repetitions_per_unit"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"loocv.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"loocv.validation_fraction must lie in [0, 1), got {self.validation_fraction!r}")
        for members in candidate_values(self.members, "loocv.members"):
            if not isinstance(members, int) or members < 1:
                raise ValueError(f"loocv.members must be positive integers, got {members!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"loocv.engine must be one of {ENGINES}, got {self.engine!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"loocv.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not isinstance(self.inner_folds, int) or self.inner_folds < 2:
            raise ValueError(f"loocv.inner_folds must be an integer >= 2, got {self.inner_folds!r}")
        limit = self.max_networks_per_model
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"loocv.max_networks_per_model must be a positive integer or null, "
                             f"got {limit!r}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> LOOCVConfig:
        return config_from_dict(cls, params)

    @staticmethod
    def result_settings(params: Mapping[str, Any]) -> dict[str, Any]:
        """``params:loocv`` less the keys that cannot change a result (memory bounds only)."""
        return {k: v for k, v in params.items() if k != "max_networks_per_model"}

    def blocks(self) -> list[tuple[int, ...]]:
        """The repetitions of each unit: consecutive blocks of ``repetitions_per_unit``."""
        reps = range(self.n_repetitions)
        size = self.repetitions_per_unit
        return [tuple(reps[i:i + size]) for i in range(0, self.n_repetitions, size)]


@dataclass(frozen=True)
class Method:
    """How a fold's predictions are made.

    Attributes:
        name: The approach shown in tables (``BL``, ``DTL_1``, ``svm_rbf``, ``NSC 1-NN``).
        kind: ``network``, ``baseline`` or ``nearest_neighbour``.
        setting: Network methods: learner, transfer mask, pretraining, source, overrides.
        options: Baselines: the method's options (``baselines.DEFAULTS``), grids as candidates.
        baseline: Baselines: the scikit-learn method (``svm_linear``, ``svm_rbf``,
            ``logistic_regression``).
    """

    name: str
    kind: str
    setting: TransferSetting = BASELINE
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    baseline: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Method {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "baseline":
            baseline_options(self.baseline, self.options)
