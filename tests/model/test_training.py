"""Fold-batched training is the same method as the sequential per-fold reference."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from scipy import stats

from hca_dtl.data.schema import ROLE_TEST, ROLE_TRAIN, InputDataError
from hca_dtl.model import SAAConfig, train_folds
from hca_dtl.model.batched import (FinetuneStage, FoldBatches, FoldSAA, PretrainStage,
                                   ResidentCells, fit_stage)
from hca_dtl.model.streams import epoch_order
from hca_dtl.model.weights import initial_weights


def test_pretraining_lowers_reconstruction_loss_and_fine_tuning_learns(tiny_config, blobs, split_roles):
    x, y = blobs(400, 10, 3, seed=1)
    roles = split_roles(400, 256, 64, n_folds=2)
    config = dataclasses.replace(tiny_config, pretrain_epochs=5, finetune_learning_rate=0.5,
                                 finetune_max_epochs=30, patience_epochs=10)
    ensemble = train_folds(x, y, roles, 3, config, progress=False)
    for fold in range(2):
        for layer in ("layer_1", "layer_2"):
            losses = ensemble.history[fold]["pretrain_loss"][layer]
            assert len(losses) == 5 and losses[-1] < losses[0]
    test = roles[:, 0] == ROLE_TEST
    predicted = ensemble.predict(x)
    assert predicted.shape == (400, 2)
    assert (predicted[test] == y[test, None]).mean() > 0.9
    assert (ensemble.best_valid_error < 0.1).all()
    assert ((1 <= ensemble.epochs_run) & (ensemble.epochs_run <= config.finetune_max_epochs)).all()
    for fold in range(2):
        history = ensemble.history[fold]
        assert history["stopped_epoch"] == len(history["valid_error"]) == ensemble.epochs_run[fold]
        assert history["valid_error"][history["best_epoch"] - 1] == ensemble.best_valid_error[fold]
    assert set(ensemble.timings) == {"pretrain_seconds", "finetune_seconds", "wall_seconds"}


def test_same_seed_same_weights_other_seed_other_weights(tiny_config, blobs, split_roles):
    x, y = blobs(160, 6, 3, seed=2)
    roles = split_roles(160, 96, 32, n_folds=2)
    config = dataclasses.replace(tiny_config, pretrain_epochs=1, finetune_max_epochs=3)
    first, second = (train_folds(x, y, roles, 3, config, progress=False) for _ in range(2))
    other = train_folds(x, y, roles, 3, dataclasses.replace(config, seed=4), progress=False)
    for a, b, c in zip(first.weights.arrays(), second.weights.arrays(), other.weights.arrays()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.weights.kernels[0], other.weights.kernels[0])


@pytest.mark.parametrize("shuffle", [False, True])
def test_batched_equals_sequential_fold_for_fold(tiny_config, blobs, split_roles, shuffle):
    # Same initial weights and the same cell orders (both engines draw them from streams), so
    # every fold of the batched model trains as its own sequential network — here three folds
    # with different TRAIN cells (80, 96 and 64: partial last batches, idle steps).
    x, y = blobs(170, 6, 3, seed=3)
    roles = split_roles(170, 96, 40, n_folds=3)
    roles[:16, 0] = ROLE_TEST
    roles[64:96, 2] = ROLE_TEST
    config = dataclasses.replace(tiny_config, finetune_max_epochs=3, shuffle=shuffle)
    batched = train_folds(x, y, roles, 3, config, engine="batched", progress=False)
    sequential = train_folds(x, y, roles, 3, config, engine="sequential", progress=False)
    for fold in range(3):
        for name in ("layer_1", "layer_2"):
            np.testing.assert_allclose(batched.history[fold]["pretrain_loss"][name],
                                       sequential.history[fold]["pretrain_loss"][name], rtol=1e-5)
        np.testing.assert_allclose(batched.history[fold]["finetune_loss"],
                                   sequential.history[fold]["finetune_loss"], rtol=1e-4)
        assert batched.history[fold]["valid_error"] == sequential.history[fold]["valid_error"]
        assert batched.history[fold]["best_epoch"] == sequential.history[fold]["best_epoch"]
    for a, b in zip(batched.weights.arrays(), sequential.weights.arrays()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched.predict_proba(x), sequential.predict_proba(x), atol=1e-4)


def test_a_fold_trains_the_same_beside_any_other_folds(tiny_config, blobs, split_roles):
    # Its network key, not its column or its neighbours, decides its weights and cell orders.
    x, y = blobs(170, 6, 3, seed=8)
    roles = split_roles(170, 96, 40, n_folds=3)
    roles[:40, 1] = ROLE_TEST
    alone = train_folds(x, y, roles[:, [2]], 3, tiny_config, network_keys=np.array([[5, 2]]),
                        progress=False)
    beside = train_folds(x, y, roles, 3, tiny_config, network_keys=np.array([[0, 0], [1, 9], [5, 2]]),
                         progress=False)
    for a, b in zip(alone.weights.arrays(), beside.weights.arrays()):
        np.testing.assert_allclose(a[0], b[2], rtol=1e-5, atol=1e-6)
    other_key = train_folds(x, y, roles[:, [2]], 3, tiny_config, network_keys=np.array([[5, 3]]),
                            progress=False)
    assert not np.array_equal(alone.weights.kernels[0], other_key.weights.kernels[0])
    with pytest.raises(ValueError, match="repeated rows"):
        train_folds(x, y, roles, 3, tiny_config, network_keys=np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match=r"\(3, k\) non-negative"):
        train_folds(x, y, roles, 3, tiny_config, network_keys=np.array([[0], [1]]))


def test_fold_batches_give_each_fold_its_own_epoch_order():
    train = np.zeros((30, 2), bool)
    train[:25, 0] = True  # 25 cells: batches of 10, 10, 5
    train[10:18, 1] = True  # 8 cells: one batch, then two idle steps
    keys = np.array([[0], [1]])
    batches = FoldBatches(train, 10, 3, keys, stage=1)
    assert batches.steps_per_epoch == 3 and batches.num_batches is None
    for epoch in range(2):
        steps = [batches[epoch * 3 + s] for s in range(3)]
        assert all(step.shape == (2, 10) and step.dtype == np.int32 for step in steps)
        for fold in range(2):
            seen = np.concatenate([step[fold] for step in steps])
            expected = epoch_order(np.flatnonzero(train[:, fold]), 3, keys[fold], 1, epoch)
            np.testing.assert_array_equal(seen[seen >= 0], expected)
            assert (seen[len(expected):] == -1).all()
    np.testing.assert_array_equal(batches[1], FoldBatches(train, 10, 3, keys, stage=1)[1])  # pure
    assert not np.array_equal(batches[0], batches[3])  # reshuffled each epoch
    assert not np.array_equal(batches[0], FoldBatches(train, 10, 3, keys, stage=2)[0])


def test_a_fold_without_cells_or_inactive_stays_bit_identical(tiny_config, blobs):
    x, y = blobs(64, 6, 3, seed=4)
    weights = initial_weights(6, 3, 3, tiny_config)
    weights.minimum[:] = x.min(axis=0)
    weights.scale[:] = 1.0 / (x.max(axis=0) - x.min(axis=0))
    weights.logistic_kernel[:] = 0.1  # a non-zero start, so that a frozen fold cannot pass by luck
    train = np.ones((64, 3), bool)
    train[:, 1] = False  # fold 1 has no TRAIN cells
    keys = np.arange(3)[:, None]
    network = FoldSAA(weights)
    cells = ResidentCells(x, y)
    before = [keras.ops.convert_to_numpy(v).copy() for v in network.variables_in_order()]
    network.set_trainable([0], logistic=False)
    pretrain = PretrainStage(network, cells, 0, "cross_entropy")
    fit_stage(pretrain, FoldBatches(train, 16, 0, keys, 0), 0.5, 2, lambda epoch, seconds: False)
    pretrained = [keras.ops.convert_to_numpy(v).copy() for v in network.variables_in_order()]
    network.set_trainable(None, logistic=True)
    finetune = FinetuneStage(network, cells, 3)
    finetune.active.assign(np.array([1.0, 1.0, 0.0], np.float32))  # fold 2 has stopped early
    fit_stage(finetune, FoldBatches(train, 16, 0, keys, 2), 0.5, 2, lambda epoch, seconds: False)
    after = [keras.ops.convert_to_numpy(v) for v in network.variables_in_order()]
    for old, middle, new in zip(before, pretrained, after):
        np.testing.assert_array_equal(old[1], new[1])
        np.testing.assert_array_equal(middle[2], new[2])
    assert not np.array_equal(before[2][2], pretrained[2][2])  # fold 2 did pretrain
    changed = [not np.array_equal(old[0], new[0]) for old, new in zip(before, after)]
    assert all(changed[2:5]) and all(changed[-2:])  # layer 1 and the logistic layer of fold 0


def test_a_stage_stops_when_after_epoch_says_so(tiny_config, blobs):
    x, y = blobs(64, 6, 3, seed=4)
    network = FoldSAA(initial_weights(6, 3, 1, tiny_config))
    network.set_trainable(None, logistic=True)
    stage = FinetuneStage(network, ResidentCells(x, y), 3)
    epochs = []
    fit_stage(stage, FoldBatches(np.ones((64, 1), bool), 16, 0, np.zeros((1, 1), np.int64), 2),
              0.1, 10, lambda epoch, seconds: epochs.append(epoch) or epoch == 3)
    assert epochs == [1, 2, 3]


def test_batched_and_sequential_accuracy_statistically_indistinguishable(tiny_config, blobs, split_roles):
    # Six folds with identical roles = six independent initialisations of the same problem; the
    # engines get different seeds, so the two samples are independent.
    x, y = blobs(330, 8, 3, separation=0.9, seed=5)
    roles = split_roles(330, 160, 64, n_folds=6)
    config = dataclasses.replace(tiny_config, hidden_units=(8,), pretrain_epochs=1,
                                 finetune_learning_rate=0.5, finetune_max_epochs=10)
    test = roles[:, 0] == ROLE_TEST
    accuracy = {}
    for engine, seed in (("batched", 10), ("sequential", 20)):
        predicted = train_folds(x, y, roles, 3, dataclasses.replace(config, seed=seed),
                                engine=engine, progress=False).predict(x)
        accuracy[engine] = (predicted[test] == y[test, None]).mean(axis=0)
    assert accuracy["batched"].mean() > 0.5 and accuracy["sequential"].mean() > 0.5
    assert stats.ttest_ind(accuracy["batched"], accuracy["sequential"]).pvalue > 0.05


def test_fold_ensemble_exports_one_fold_as_a_keras_classifier(tiny_config, blobs, split_roles):
    x, y = blobs(150, 6, 3, seed=6)
    roles = split_roles(150, 64, 32, n_folds=2)
    roles[:32, 1] = ROLE_TEST  # the folds differ
    roles[100:, 1] = ROLE_TRAIN
    config = dataclasses.replace(tiny_config, pretrain_epochs=1, finetune_max_epochs=2)
    ensemble = train_folds(x, y, roles, 3, config, progress=False)
    probabilities = ensemble.predict_proba(x)
    assert probabilities.shape == (150, 2, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    model = ensemble.to_keras_model(1, metadata={"classes": ["a", "b", "c"]})
    assert model.metadata == {"classes": ["a", "b", "c"]}
    np.testing.assert_allclose(model.predict(x, verbose=0), probabilities[:, 1], atol=1e-6)
    with pytest.raises(ValueError, match="fold 2"):
        ensemble.to_keras_model(2)


def test_bad_inputs_are_named(tiny_config, blobs, split_roles):
    x, y = blobs(80, 4, 2, seed=7)
    roles = split_roles(80, 40, 20)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputDataError, match="cell 3, feature column 2"):
        train_folds(bad, y, roles, 2, tiny_config)
    with pytest.raises(InputDataError, match=r"fold\(s\) \[0\] of roles have no VALID"):
        train_folds(x, y, split_roles(80, 40, 0), 2, tiny_config)
    with pytest.raises(InputDataError, match="labels"):
        train_folds(x, y + 5, roles, 2, tiny_config)
    with pytest.raises(ValueError, match="engine"):
        train_folds(x, y, roles, 2, tiny_config, engine="parallel")
    with pytest.raises(ValueError, match="init has 2 entries"):
        train_folds(x, y, roles, 2, tiny_config, init=[None, None])
    assert SAAConfig().hidden_units == (500,) * 7
