"""Nothing from a held-out compound reaches its fold's model (SAA or MLP): not the scaler, not
pretraining, not fine-tuning, not early stopping. Proof by perturbation: scrambling the held-out
compound's features and labels leaves that fold's trained weights bit-identical."""

from __future__ import annotations

import numpy as np
import pytest

from hca_dtl.data.schema import LABEL, ROLE_TEST, ROLE_TRAIN, feature_columns
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.model import MLPConfig, SAAConfig, train_folds, train_folds_mlp

CONFIG = SAAConfig(hidden_units=(8, 8), pretrain_learning_rate=0.05, pretrain_epochs=2,
                   finetune_learning_rate=0.5, finetune_max_epochs=4, batch_size=16, seed=1)


FOLD = 0


def _scrambled(cells_factory):
    """The problem twice: as it is, and with fold 0's held-out compound's features and labels
    scrambled. Returns ``plan``, ``x``, ``(x, y)`` and ``(x_scrambled, y_scrambled)``."""
    cells = cells_factory(n_cells_per_well=3)
    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0)
    x = cells[feature_columns(cells.columns)].to_numpy(np.float32)
    y = cells[LABEL].to_numpy(np.int32)
    held_out = plan.roles[:, FOLD] == ROLE_TEST
    assert held_out.any()
    rng = np.random.default_rng(7)
    x_scrambled, y_scrambled = x.copy(), y.copy()
    x_scrambled[held_out] = 10 * x[held_out] + rng.normal(0, 5, size=x[held_out].shape)
    y_scrambled[held_out] = rng.integers(0, 3, size=held_out.sum())
    return plan, x, (x, y), (x_scrambled, y_scrambled)


def _only_other_folds_changed(plan, original, scrambled) -> None:
    """Fold 0's weights are bit-identical; a fold that trains on the scrambled cells changed (the
    perturbation was real)."""
    for a, b in zip(original.weights.fold(FOLD), scrambled.weights.fold(FOLD)):
        np.testing.assert_array_equal(a, b)
    held_out = plan.roles[:, FOLD] == ROLE_TEST
    other = next(f for f in range(plan.n_folds) if (plan.roles[held_out, f] == ROLE_TRAIN).any())
    assert any(not np.array_equal(a, b) for a, b in zip(original.weights.fold(other),
                                                        scrambled.weights.fold(other)))


@pytest.mark.parametrize("engine", ["batched", "sequential"])
def test_held_out_compound_cannot_influence_its_fold(cells_factory, engine: str) -> None:
    plan, x, data, scrambled_data = _scrambled(cells_factory)
    original = train_folds(*data, plan.roles, 3, CONFIG, engine=engine, progress=False)
    scrambled = train_folds(*scrambled_data, plan.roles, 3, CONFIG, engine=engine, progress=False)
    _only_other_folds_changed(plan, original, scrambled)
    # The fold's scaler is fitted on its TRAIN cells alone.
    train = plan.roles[:, FOLD] == ROLE_TRAIN
    np.testing.assert_allclose(original.weights.minimum[FOLD], x[train].min(axis=0), rtol=1e-6)


MLP_CONFIG = MLPConfig(hidden_units=(8, 8), learning_rate=0.01, max_epochs=4, batch_size=16,
                       pretrain="denoising", pretrain_epochs=2, layer_norm=True, seed=1)


def test_held_out_compound_cannot_influence_its_mlp_fold(cells_factory) -> None:
    # The MLP learner, denoising pretraining on, in the batched engine (the sequential one trains
    # each fold alone on its own cells, and equals it: tests/model/test_mlp.py): its
    # standardisation, pretraining, dropout, fine-tuning and early stopping see the fold's TRAIN
    # (and VALID) cells only.
    plan, x, data, scrambled_data = _scrambled(cells_factory)
    original = train_folds_mlp(*data, plan.roles, 3, MLP_CONFIG, engine="batched", progress=False)
    scrambled = train_folds_mlp(*scrambled_data, plan.roles, 3, MLP_CONFIG, engine="batched",
                                progress=False)
    assert original.history[FOLD]["pretrain_loss"]
    _only_other_folds_changed(plan, original, scrambled)
    train = plan.roles[:, FOLD] == ROLE_TRAIN
    np.testing.assert_allclose(original.weights.mean[FOLD], x[train].mean(axis=0), rtol=1e-5)
