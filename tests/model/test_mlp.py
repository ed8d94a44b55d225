"""The MLP learner: fold batching is the per-fold reference with Keras' own AdamW, fold for fold;
a fold's noise and trajectory are its own; transfer, freezing, configuration and learning."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from hca_dtl.data.schema import ROLE_TEST, ROLE_TRAIN, InputDataError
from hca_dtl.model import SAAClassifier
from hca_dtl.model.batched import FoldBatches, ResidentCells, fit_stage
from hca_dtl.model.mlp import MLPClassifier, MLPConfig, train_folds_mlp, transfer_init_mlp
from hca_dtl.model.mlp.batched import DenoisingStage, FoldMLP, FoldSteps, MLPFinetuneStage
from hca_dtl.model.mlp.functions import hash32, keyed_uniform
from hca_dtl.model.mlp.optimizer import FoldAdamW
from hca_dtl.model.mlp.weights import fit_standardization, initial_weights_mlp

TINY = MLPConfig(hidden_units=(8, 6), batch_size=16, learning_rate=0.01, weight_decay=0.1,
                 max_epochs=10, patience_epochs=2, dropout=0.3, pretrain_epochs=2,
                 corruption=0.3, seed=3)


def three_folds(blobs, split_roles, seed: int = 3):
    """170 overlapping cells, 3 folds with 80, 96 and 70 TRAIN cells (in batches of 16: a
    partial last batch, idle steps; validation errors that stop folds at different epochs)."""
    x, y = blobs(170, 6, 3, separation=0.7, seed=seed)
    roles = split_roles(170, 96, 40, n_folds=3)
    roles[:16, 0] = ROLE_TEST
    roles[64:90, 2] = ROLE_TEST
    return x, y, roles


@pytest.fixture(scope="module")
def source(blobs, split_roles) -> MLPClassifier:
    """A one-fold MLP (layer normalisation, classes b, c, a) trained on other cells, to transfer from."""
    x, y = blobs(120, 6, 3, seed=11)
    config = dataclasses.replace(TINY, layer_norm=True, max_epochs=3)
    ensemble = train_folds_mlp(x, y, split_roles(120, 80, 40), 3, config, progress=False)
    return ensemble.to_keras_model(0, metadata={"classes": ["b", "c", "a"]})


def assert_same_training(batched, sequential) -> None:
    for fold in range(batched.n_folds):
        b, s = batched.history[fold], sequential.history[fold]
        assert b["pretrain_loss"].keys() == s["pretrain_loss"].keys()
        for name in b["pretrain_loss"]:
            np.testing.assert_allclose(b["pretrain_loss"][name], s["pretrain_loss"][name], rtol=1e-5)
        np.testing.assert_allclose(b["finetune_loss"], s["finetune_loss"], rtol=1e-5)
        assert b["valid_error"] == s["valid_error"]
        assert (b["best_epoch"], b["stopped_epoch"]) == (s["best_epoch"], s["stopped_epoch"])
    for a, b in zip(batched.weights.arrays(), sequential.weights.arrays()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


VARIANTS = {
    "relu_dropout": {},
    "pretrained_layer_norm_gelu": {"pretrain": "denoising", "layer_norm": True, "activation": "gelu",
                                   "shuffle": False},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_batched_equals_sequential_fold_for_fold(blobs, split_roles, variant):
    # Same initial weights, cell orders and noise (all keyed), AdamW on each fold's own steps:
    # every fold of the batched model trains as its own Keras model with Keras' AdamW.
    x, y, roles = three_folds(blobs, split_roles)
    config = dataclasses.replace(TINY, **VARIANTS[variant])
    batched = train_folds_mlp(x, y, roles, 3, config, engine="batched", progress=False)
    sequential = train_folds_mlp(x, y, roles, 3, config, engine="sequential", progress=False)
    assert len(set(batched.epochs_run.tolist())) > 1  # early stopping at different epochs
    assert_same_training(batched, sequential)
    np.testing.assert_allclose(batched.predict_proba(x), sequential.predict_proba(x), atol=1e-5)
    assert bool(batched.history[0]["pretrain_loss"]) == (config.pretrain == "denoising")


def test_batched_equals_sequential_from_a_transferred_init_with_frozen_epochs(source, blobs,
                                                                               split_roles):
    # Hidden layer 1 and the logistic layer from a source model, per fold (a leading fold axis),
    # frozen for 2 epochs; hidden layer 2 random and pretrained. The Psets' MOAs differ: the
    # logistic layer is copied by position.
    config = dataclasses.replace(TINY, pretrain="denoising", layer_norm=True,
                                 freeze_transferred_epochs=2)
    init = transfer_init_mlp(source, "[101]", ["p", "q", "r"])
    init[0] = [np.stack([a, a * 0.5, a * 2.0]) for a in init[0]]
    x, y, roles = three_folds(blobs, split_roles, seed=4)
    batched = train_folds_mlp(x, y, roles, 3, config, init=init, progress=False)
    sequential = train_folds_mlp(x, y, roles, 3, config, init=init, engine="sequential",
                                 progress=False)
    assert list(batched.history[0]["pretrain_loss"]) == ["layer_2"]
    assert len(set(batched.epochs_run.tolist())) > 1
    assert_same_training(batched, sequential)
    # Kept weights from after the frozen epochs have moved the transferred layer.
    thawed = [f for f in range(3) if batched.history[f]["best_epoch"] > 2]
    assert thawed
    for fold in thawed:
        assert not np.array_equal(batched.weights.hidden[0][0][fold], init[0][0][fold])


def test_a_fold_trains_the_same_beside_any_other_folds(blobs, split_roles):
    # Its network key, not its column or its neighbours, decides its weights, cell orders,
    # dropout masks and corruption.
    x, y, roles = three_folds(blobs, split_roles, seed=8)
    config = dataclasses.replace(TINY, pretrain="denoising", pretrain_epochs=1, layer_norm=True,
                                 max_epochs=6)
    alone = train_folds_mlp(x, y, roles[:, [2]], 3, config, network_keys=np.array([[5, 2]]),
                            progress=False)
    beside = train_folds_mlp(x, y, roles, 3, config, network_keys=np.array([[0, 0], [1, 9], [5, 2]]),
                             progress=False)
    for a, b in zip(alone.weights.arrays(), beside.weights.arrays()):
        np.testing.assert_allclose(a[0], b[2], rtol=1e-5, atol=1e-6)
    assert alone.history[0]["valid_error"] == beside.history[2]["valid_error"]
    np.testing.assert_allclose(alone.history[0]["pretrain_loss"]["layer_2"],
                               beside.history[2]["pretrain_loss"]["layer_2"], rtol=1e-5)
    keyed = initial_weights_mlp(6, 3, 2, config, keys=np.array([[5, 2], [5, 3]]))
    assert not np.array_equal(keyed.hidden[0][0][0], keyed.hidden[0][0][1])  # another key


def test_idle_and_stopped_folds_stay_bit_identical(blobs):
    # Fold 1 has no TRAIN cells; fold 2 has stopped early: AdamW's momentum must not move them.
    x, y = blobs(64, 6, 3, seed=4)
    weights = initial_weights_mlp(6, 3, 3, dataclasses.replace(TINY, layer_norm=True))
    train = np.ones((64, 3), bool)
    train[:, 1] = False
    weights.mean, weights.inv_sd = fit_standardization(x, np.ones((64, 3), bool))
    keys = np.arange(3)[:, None]
    network = FoldMLP(weights, "relu")
    cells = ResidentCells(x, y)
    before = [keras.ops.convert_to_numpy(v).copy() for v in network.variables_in_order()]
    network.set_trainable([0])
    steps = FoldSteps(3, 1)
    pretrain = DenoisingStage(network, cells, 0, 0.3, steps)
    fit_stage(pretrain, FoldBatches(train, 16, 0, keys, 0), FoldAdamW(0.05, 0.0, steps.gate), 3,
              steps.keyed(0, keys, 0, lambda epoch, seconds: False))
    pretrained = [keras.ops.convert_to_numpy(v).copy() for v in network.variables_in_order()]
    network.set_trainable([0, 1, 2])
    steps = FoldSteps(3, 2)
    finetune = MLPFinetuneStage(network, cells, 3, 0.3, steps)
    finetune.active.assign(np.array([1.0, 1.0, 0.0], np.float32))
    fit_stage(finetune, FoldBatches(train, 16, 0, keys, 2), FoldAdamW(0.05, 0.1, steps.gate), 3,
              steps.keyed(0, keys, 2, lambda epoch, seconds: False))
    after = [keras.ops.convert_to_numpy(v) for v in network.variables_in_order()]
    for old, middle, new in zip(before, pretrained, after):
        np.testing.assert_array_equal(old[1], new[1])
        np.testing.assert_array_equal(middle[2], new[2])
    assert not np.array_equal(before[2][2], pretrained[2][2])  # fold 2 did pretrain
    changed = [not np.array_equal(old[0], new[0]) for old, new in zip(before, after)]
    assert changed[:2] == [False, False] and all(changed[2:])  # standardisation fixed


def test_keyed_noise_is_a_function_of_key_cell_and_unit_only():
    rng = np.random.default_rng(0)
    values = rng.integers(-2**31, 2**31, 1000).astype(np.int32)
    expected = values.view(np.uint32).copy()  # the reference hash on numpy's wrapping uint32
    expected ^= expected >> 16
    expected *= np.uint32(0x7FEB352D)
    expected ^= expected >> 15
    expected *= np.uint32(0x846CA68B)
    expected ^= expected >> 16
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(hash32(values)).view(np.uint32), expected)
    cells = np.arange(2000, dtype=np.int32)
    uniform = keras.ops.convert_to_numpy(keyed_uniform(7, cells, 50))
    assert uniform.shape == (2000, 50) and uniform.min() >= 0 and uniform.max() < 1
    assert abs(uniform.mean() - 0.5) < 0.01 and abs((uniform < 0.3).mean() - 0.3) < 0.01
    assert abs(np.corrcoef(uniform[:, 0], uniform[:, 1])[0, 1]) < 0.05
    some = keras.ops.convert_to_numpy(keyed_uniform(7, cells[[1500, 3]], 50))
    np.testing.assert_array_equal(some, uniform[[1500, 3]])
    folds = keras.ops.convert_to_numpy(keyed_uniform(np.array([[7], [8]], np.int32),
                                                     np.stack([cells[:4], cells[:4]]), 50))
    np.testing.assert_array_equal(folds[0], uniform[:4])
    assert not np.array_equal(folds[1], uniform[:4])


def test_transferred_layers_stay_frozen_for_the_frozen_epochs(source, blobs, split_roles):
    config = dataclasses.replace(TINY, layer_norm=True, max_epochs=2, patience_epochs=50,
                                 freeze_transferred_epochs=2)
    init = transfer_init_mlp(source, "[100]")
    x, y, roles = three_folds(blobs, split_roles)
    ensemble = train_folds_mlp(x, y, roles, 3, config, init=init, progress=False)
    assert (ensemble.epochs_run == 2).all() and all(h["best_epoch"] > 0 for h in ensemble.history)
    for kept, transferred in zip(ensemble.weights.hidden[0], init[0]):  # kernel, bias, gamma, beta
        np.testing.assert_array_equal(kept, np.broadcast_to(transferred, kept.shape))
    start = initial_weights_mlp(6, 3, 3, config, init)
    for kept, initial in zip([*ensemble.weights.hidden[1], *ensemble.weights.logistic],
                             [*start.hidden[1], *start.logistic]):
        assert not np.array_equal(kept, initial)


def test_learns_separable_cells_quickly(blobs, split_roles):
    x, y = blobs(600, 10, 4, separation=1.0, seed=1)
    roles = split_roles(600, 360, 120, n_folds=2)
    config = MLPConfig(hidden_units=(32, 16), learning_rate=0.01, max_epochs=20,
                       patience_epochs=5, seed=1)
    ensemble = train_folds_mlp(x, y, roles, 4, config, progress=False)
    test = roles[:, 0] == ROLE_TEST
    accuracy = (ensemble.predict(x)[test] == y[test, None]).mean(axis=0)
    assert (accuracy > 0.8).all(), accuracy  # chance 0.25; logistic regression 0.93
    assert (ensemble.best_valid_error < 0.2).all()
    assert set(ensemble.timings) == {"pretrain_seconds", "finetune_seconds", "wall_seconds"}
    assert ensemble.timings["pretrain_seconds"] == 0.0


def test_exported_classifier_predicts_like_its_fold_and_carries_the_training_range(blobs, split_roles):
    x, y, roles = three_folds(blobs, split_roles, seed=6)
    config = dataclasses.replace(TINY, layer_norm=True, max_epochs=2)
    ensemble = train_folds_mlp(x, y, roles, 3, config, progress=False)
    probabilities = ensemble.predict_proba(x)
    assert probabilities.shape == (170, 3, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ensemble.predict(x), probabilities.argmax(axis=-1))
    model = ensemble.to_keras_model(2, metadata={"classes": ["a", "b", "c"]})
    assert isinstance(model, MLPClassifier) and model.metadata == {"classes": ["a", "b", "c"]}
    np.testing.assert_allclose(model.predict(x, verbose=0), probabilities[:, 2], atol=1e-6)
    train = roles[:, 2] == ROLE_TRAIN
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.scaling.minimum),
                               x[train].min(axis=0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.scaling.scale),
                               1 / (x[train].max(axis=0) - x[train].min(axis=0)), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.standardization.mean),
                               x[train].mean(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="fold 3"):
        ensemble.to_keras_model(3)


def test_standardization_ignores_constant_features():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], np.float32)
    mean, inv_sd = fit_standardization(x, np.array([[True], [True], [False]]))
    np.testing.assert_allclose(mean, [[2.0, 5.0]])
    np.testing.assert_allclose(inv_sd, [[1.0, 0.0]])


def test_transfer_init_mlp_copies_masked_layers_with_their_layer_norm(source, blobs, split_roles):
    config = dataclasses.replace(TINY, layer_norm=True)
    init = transfer_init_mlp(source, "[101]")
    assert init[1] is None and len(init[0]) == 4 and len(init[2]) == 2
    np.testing.assert_array_equal(init[0][2], keras.ops.convert_to_numpy(source.blocks[0].gamma))
    by_name = transfer_init_mlp(source, "[001]", ["a", "x", "b", "c"])
    kernel = keras.ops.convert_to_numpy(source.logistic.kernel)
    np.testing.assert_array_equal(by_name[2][0][:, [2, 3, 0]], kernel)  # b, c, a by name
    assert not by_name[2][0][:, 1].any() and not by_name[2][1][1]  # "x" starts at 0
    by_position = transfer_init_mlp(source, "[001]", ["p", "q", "r"])
    np.testing.assert_array_equal(by_position[2][0], kernel)
    with pytest.raises(ValueError, match="3 binary digits"):
        transfer_init_mlp(source, "[1011]")
    with pytest.raises(ValueError, match="MLPClassifier"):
        transfer_init_mlp(SAAClassifier(6, [8, 6], 3), "[101]")
    x, y, roles = three_folds(blobs, split_roles)
    with pytest.raises(ValueError, match="hidden layer 1 has weight shapes"):
        train_folds_mlp(x, y, roles, 3, dataclasses.replace(TINY, layer_norm=False), init=init)
    with pytest.raises(ValueError, match="hidden layer 2"):
        train_folds_mlp(x, y, roles, 3, dataclasses.replace(config, hidden_units=(8, 5)),
                        init=transfer_init_mlp(source, "[010]"))


def test_config_rejects_unknown_keys_and_bad_values():
    assert MLPConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match=r"Unknown MLPConfig key\(s\) \['hidden'\]"):
        MLPConfig.from_dict({"hidden": [10]})
    for bad, message in (({"hidden_units": []}, "hidden_units"), ({"dropout": 1.0}, "dropout"),
                         ({"activation": "tanh"}, "activation"), ({"layer_norm": "yes"}, "layer_norm"),
                         ({"pretrain": "rbm"}, "pretrain"), ({"batch_size": 0}, "batch_size"),
                         ({"freeze_transferred_epochs": -1}, "freeze_transferred_epochs"),
                         ({"weight_decay": -0.1}, "weight_decay"), ({"learning_rate": 0}, "learning_rate"),
                         ({"improvement_threshold": 1.5}, "improvement_threshold"),
                         ({"dtype": "float16"}, "dtype"), ({"corruption": -0.1}, "corruption")):
        with pytest.raises(ValueError, match=message):
            MLPConfig(**bad)


def test_bad_calls_are_named(blobs, split_roles):
    x, y, roles = three_folds(blobs, split_roles)
    with pytest.raises(ValueError, match="engine"):
        train_folds_mlp(x, y, roles, 3, TINY, engine="parallel")
    with pytest.raises(ValueError, match="init has 2 entries"):
        train_folds_mlp(x, y, roles, 3, TINY, init=[None, None])
    with pytest.raises(InputDataError, match="labels"):
        train_folds_mlp(x, y + 5, roles, 3, TINY)
    everything = [[np.zeros((6, 8)), np.zeros(8)], [np.zeros((8, 6)), np.zeros(6)],
                  [np.zeros((6, 3)), np.zeros(3)]]
    with pytest.raises(ValueError, match="nothing to train"):
        train_folds_mlp(x, y, roles, 3, dataclasses.replace(TINY, freeze_transferred_epochs=1),
                        init=everything)


def test_trains_in_mixed_bfloat16_batched_only(blobs, split_roles):
    x, y, roles = three_folds(blobs, split_roles)
    config = dataclasses.replace(TINY, dtype="mixed_bfloat16", pretrain="denoising", layer_norm=True,
                                 pretrain_epochs=1, max_epochs=2)
    ensemble = train_folds_mlp(x, y, roles, 3, config, progress=False)
    assert all(np.isfinite(a).all() and a.dtype == np.float32 for a in ensemble.weights.arrays())
    np.testing.assert_allclose(ensemble.predict_proba(x).sum(axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="float32 only"):
        train_folds_mlp(x, y, roles, 3, config, engine="sequential")
