"""Reduced precision (bfloat16) gives the accuracy of float32 on a learnable problem."""

from __future__ import annotations

import numpy as np
import pytest

from hca_dtl.model import SAAConfig, train_folds


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "bfloat16"])
def test_bfloat16_matches_float32_accuracy(dtype: str) -> None:
    rng = np.random.default_rng(0)
    n, d, c = 2000, 40, 4
    y = rng.integers(0, c, n).astype(np.int32)
    x = (rng.normal(0, 1, (c, d))[y] + rng.normal(0, 2.0, (n, d))).astype(np.float32)
    roles = np.where(rng.random((n, 2)) < 0.2, 2, 1).astype(np.int8)
    test = rng.random(n) < 0.25
    roles[test] = 3

    def accuracy(precision: str) -> np.ndarray:
        config = SAAConfig(hidden_units=(32, 32), pretrain_learning_rate=0.05, pretrain_epochs=1,
                           finetune_learning_rate=0.5, finetune_max_epochs=10, batch_size=32,
                           seed=0, dtype=precision)
        ensemble = train_folds(x, y, roles, c, config, progress=False)
        return (ensemble.predict(x)[test] == y[test, None]).mean(axis=0)

    reference = accuracy("float32")
    assert reference.min() > 0.8  # the problem is learnable: the comparison means something
    np.testing.assert_allclose(accuracy(dtype), reference, atol=0.03)
