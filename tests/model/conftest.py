"""Tiny learnable problems for the model tests (a few hundred cells, a few features)."""

from __future__ import annotations

import numpy as np
import pytest

from hca_dtl.data.schema import ROLE_TEST, ROLE_TRAIN, ROLE_VALID
from hca_dtl.model import SAAConfig


def make_blobs(n_cells: int, n_features: int, n_classes: int, *, separation: float = 2.0,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters on an arbitrary offset and scale: (N, D) float32, (N,) int."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, separation, (n_classes, n_features))
    y = np.arange(n_cells) % n_classes
    x = centres[y] + rng.normal(0.0, 1.0, (n_cells, n_features))
    return (x * 7.0 + 40.0).astype(np.float32), y.astype(np.int32)


def make_roles(n_cells: int, n_train: int, n_valid: int, n_folds: int = 1) -> np.ndarray:
    """(N, F) roles: the first ``n_train`` cells TRAIN, the next ``n_valid`` VALID, the rest TEST."""
    roles = np.full((n_cells, n_folds), ROLE_TEST, dtype=np.int8)
    roles[:n_train] = ROLE_TRAIN
    roles[n_train:n_train + n_valid] = ROLE_VALID
    return roles


@pytest.fixture
def tiny_config() -> SAAConfig:
    return SAAConfig(hidden_units=(12, 8), pretrain_learning_rate=0.01, pretrain_epochs=2,
                     finetune_learning_rate=0.1, finetune_max_epochs=12, batch_size=32,
                     patience_epochs=4, seed=3)


@pytest.fixture(scope="session")
def blobs():
    """``make_blobs``: toy cells of separable classes."""
    return make_blobs


@pytest.fixture(scope="session")
def split_roles():
    """``make_roles``: TRAIN, then VALID, then TEST cells."""
    return make_roles
