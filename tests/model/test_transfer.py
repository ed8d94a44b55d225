"""Transfer masks: which layers start from the source model, which start fresh."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hca_dtl.model import (TransferSetting, parse_transfer_mask, train_folds, transfer_init,
                         transfer_setting)
from hca_dtl.model.weights import initial_weights


@pytest.fixture(scope="module")
def source(request):
    """A small trained source classifier (hidden 12, 8; 3 classes) and its config."""
    from hca_dtl.model import SAAConfig

    config = SAAConfig(hidden_units=(12, 8), pretrain_epochs=1, finetune_max_epochs=2, batch_size=32,
                       pretrain_learning_rate=0.01, seed=1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (np.arange(120) % 3).astype(np.int32)
    roles = np.full((120, 1), 1, np.int8)
    roles[90:] = 2
    return train_folds(x, y, roles, 3, config, progress=False).to_keras_model(0), config


def test_parse_transfer_mask():
    assert parse_transfer_mask("[00000011]", 7) == (False,) * 6 + (True, True)
    assert parse_transfer_mask("11111111", 7) == (True,) * 8
    assert parse_transfer_mask(" [010] ", 2) == (False, True, False)
    for bad in ("[0000011]", "[000000111]", "[0000a011]", "[00000011", "00000012"):
        with pytest.raises(ValueError, match=r"must be 8 binary digits"):
            parse_transfer_mask(bad, 7)


@pytest.mark.parametrize("mask", ["[011]", "[100]", "[111]", "[000]"])
def test_mask_copies_exactly_the_marked_layers(source, mask):
    model, config = source
    bits = parse_transfer_mask(mask, 2)
    init = transfer_init(model, mask)
    target = dataclasses.replace(config, seed=7)
    start = initial_weights(6, 3, 2, target, init)
    layers = [(start.kernels[k], start.biases[k], start.decoder_biases[k]) for k in range(2)]
    layers.append((start.logistic_kernel, start.logistic_bias))
    sources = [(e.kernel, e.bias, e.decoder_bias) for e in model.encoders]
    sources.append((model.logistic.kernel, model.logistic.bias))
    for bit, stacked, original in zip(bits, layers, sources):
        for fold in range(2):
            copied = all(np.array_equal(s[fold], np.asarray(o)) for s, o in zip(stacked, original))
            assert copied == bit
    fresh = initial_weights(6, 3, 2, target)
    for k in range(2):
        if not bits[k]:  # a fresh layer is the target's own random draw, whatever the mask
            np.testing.assert_array_equal(start.kernels[k], fresh.kernels[k])


def test_transferred_layers_are_not_pretrained(source):
    model, config = source
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 6)).astype(np.float32)
    y = (np.arange(90) % 3).astype(np.int32)
    roles = np.full((90, 1), 1, np.int8)
    roles[60:] = 2
    one_epoch = dataclasses.replace(config, finetune_max_epochs=1)
    bl_like = train_folds(x, y, roles, 3, one_epoch, init=transfer_init(model, "[010]"),
                          pretrain=True, progress=False)
    assert list(bl_like.history[0]["pretrain_loss"]) == ["layer_1"]
    paper = train_folds(x, y, roles, 3, one_epoch, init=transfer_init(model, "[010]"),
                        pretrain=False, progress=False)
    assert paper.history[0]["pretrain_loss"] == {}


def test_architecture_mismatch_names_layer_and_shapes(source):
    model, config = source
    x = np.zeros((10, 6), np.float32)
    roles = np.array([[1]] * 5 + [[2]] * 5, np.int8)
    y = np.zeros(10, np.int32)
    narrower = dataclasses.replace(config, hidden_units=(12, 5))
    with pytest.raises(ValueError, match=r"hidden layer 2 has weight shapes \[\(12, 8\).*\(12, 5\)"):
        train_folds(x, y, roles, 3, narrower, init=transfer_init(model, "[010]"))
    with pytest.raises(ValueError, match=r"logistic layer has weight shapes \[\(8, 3\).*\(8, 4\)"):
        train_folds(x, y, roles, 4, config, init=transfer_init(model, "[001]"))
    # Without transferring the logistic layer, another class count is fine.
    initial_weights(6, 4, 1, config, transfer_init(model, "[110]"))
    with pytest.raises(ValueError, match="3 binary digits"):
        transfer_init(model, "[0011]")


def test_transfer_setting_reads_conf_entries():
    assert transfer_setting(None) == TransferSetting("", True)  # BL
    assert transfer_setting("[00000000]") == TransferSetting("[00000000]", False)  # MLP
    paper = transfer_setting("[00000011]")
    assert paper == TransferSetting("[00000011]", False) and paper.transfers
    assert paper.label == "[00000011]"
    pretrained = transfer_setting({"mask": "[00000011]", "pretrain": True})
    assert pretrained == TransferSetting("[00000011]", True)
    assert pretrained.label == "[00000011] pretrained"  # never mistaken for the paper's DTL_1
    assert transfer_setting({"mask": "[00000011]"}) == paper
    assert transfer_setting({"learner": "saa"}) == TransferSetting("", True)  # BL, written out
    other = transfer_setting({"mask": "[00000011]", "pretrain": True, "source": "all12"})
    assert other.label == "[00000011] pretrained from all12"
    for bad, message in (({"mask": "[00000011]", "pretrained": True}, r"unknown key\(s\) \['pretrained'\]"),
                         (3, "must be a quoted string"),
                         ([9], "octal number 9"),  # YAML's reading of an unquoted [00000011]
                         ("[0000002a]", "only 0/1 digits"),
                         ({"mask": "[00000011]", "pretrain": "yes"}, "pretrain must be true or false"),
                         ({"mask": "[00000011]", "source": "pset3"}, "source must be one of")):
        with pytest.raises(ValueError, match=message):
            transfer_setting(bad, "transfer.settings.X")


def test_logistic_layer_goes_to_the_same_moas_of_a_larger_problem(source):
    model, config = source
    named = model.__class__.from_config({**model.get_config(),
                                         "metadata": {"classes": ["a", "b", "c"]}})
    named.set_weights(model.get_weights())
    kernel, bias = (np.asarray(v) for v in (model.logistic.kernel, model.logistic.bias))
    # The 12-class problem from a Pset model: source MOAs copied by name, the others start at 0.
    init = transfer_init(named, "[011]", target_classes=["x", "c", "a", "y", "b"])
    assert init[0] is None and init[1] is not None
    np.testing.assert_array_equal(init[2][0][:, [2, 4, 1]], kernel)
    np.testing.assert_array_equal(init[2][1][[2, 4, 1]], bias)
    assert not init[2][0][:, [0, 3]].any() and not init[2][1][[0, 3]].any()
    initial_weights(6, 5, 1, config, init)  # fits a 5-class target
    # From the 12-class model to a Pset: the target's MOAs' columns, by name.
    subset = transfer_init(named, "[001]", target_classes=["c", "a"])[2]
    np.testing.assert_array_equal(subset[0], kernel[:, [2, 0]])
    # Pset2 → Pset1 share no MOA: by position, as the paper.
    np.testing.assert_array_equal(transfer_init(named, "[001]", target_classes=["p", "q", "r"])[2][0],
                                  kernel)


def test_folds_may_start_from_different_source_layers(source):
    model, config = source
    layer = transfer_init(model, "[100]")[0]
    other = [a + 1.0 for a in layer]
    init = [[np.stack([layer[j], other[j], layer[j]]) for j in range(3)], None, None]
    start = initial_weights(6, 3, 3, config, init)
    for fold, expected in enumerate((layer, other, layer)):
        np.testing.assert_array_equal(start.kernels[0][fold], expected[0])
        np.testing.assert_array_equal(start.decoder_biases[0][fold], expected[2])
    with pytest.raises(ValueError, match=r"hidden layer 1 has weight shapes \[\(3, 6, 12\)"):
        initial_weights(6, 3, 2, config, init)  # 3 per-fold copies for 2 folds
