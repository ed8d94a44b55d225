"""Tied-weights autoassociator, min–max scaling and the configuration."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hca_dtl.model import MinMaxScaling, SAAConfig, TiedAutoassociator, reconstruction_loss


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_tied_autoassociator_has_one_kernel_used_both_ways():
    layer = TiedAutoassociator(4, seed=0)
    layer.build((None, 6))
    kernels = [w for w in layer.weights if len(w.shape) == 2]
    assert len(kernels) == 1 and tuple(kernels[0].shape) == (6, 4)
    assert sorted(tuple(w.shape) for w in layer.weights) == [(4,), (6,), (6, 4)]
    x = np.random.default_rng(0).uniform(size=(5, 6)).astype(np.float32)
    w = keras.ops.convert_to_numpy(layer.kernel)
    h = sigmoid(x @ w)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.reconstruct(x)), sigmoid(h @ w.T),
                               rtol=1e-5, atol=1e-6)


def test_reconstruction_gradient_flows_into_the_kernel_from_both_sides():
    # One plain-SGD step; the kernel's change must equal the analytic gradient of the summed
    # cross-entropy through the encoder AND the decoder (either path alone gives another value).
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(8, 5)).astype(np.float32)
    layer = TiedAutoassociator(3, seed=2)

    class Reconstruction(keras.Model):
        def __init__(self):
            super().__init__()
            self.autoassociator = layer

        def call(self, inputs):
            return self.autoassociator.reconstruction_logits(self.autoassociator(inputs))

    model = Reconstruction()
    model(x)
    model.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=lambda t, logits: reconstruction_loss(t, logits, "cross_entropy"))
    w0 = keras.ops.convert_to_numpy(layer.kernel).copy()
    model.train_on_batch(x, x)
    step = w0 - keras.ops.convert_to_numpy(layer.kernel)

    h = sigmoid(x @ w0)
    delta = sigmoid(h @ w0.T) - x                       # dL/dlogits (cells × 5)
    decoder_side = delta.T @ h / len(x)                 # through hWᵀ
    encoder_side = x.T @ ((delta @ w0) * h * (1 - h)) / len(x)  # through sigmoid(xW)
    np.testing.assert_allclose(step, decoder_side + encoder_side, rtol=1e-4, atol=1e-6)
    assert not np.allclose(step, decoder_side, atol=1e-4)
    assert not np.allclose(step, encoder_side, atol=1e-4)


def test_cross_entropy_matches_the_tutorial_formula():
    rng = np.random.default_rng(0)
    x, logits = rng.uniform(size=(4, 7)), rng.normal(size=(4, 7))
    z = sigmoid(logits)
    expected = -np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1)
    got = keras.ops.convert_to_numpy(reconstruction_loss(x, logits, "cross_entropy"))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    mse = keras.ops.convert_to_numpy(reconstruction_loss(x, logits, "mse"))
    np.testing.assert_allclose(mse, np.mean((z - x) ** 2, axis=1), rtol=1e-5)


def test_min_max_scaling_clips_unseen_values():
    layer = MinMaxScaling()
    layer.build((None, 3))
    layer.minimum.assign(np.array([0.0, 10.0, 5.0], np.float32))
    layer.scale.assign(np.array([0.5, 0.1, 0.0], np.float32))  # feature 3 was constant
    out = keras.ops.convert_to_numpy(layer(np.array([[1.0, 30.0, 9.0], [-4.0, 15.0, 5.0]], np.float32)))
    np.testing.assert_allclose(out, [[0.5, 1.0, 0.0], [0.0, 0.5, 0.0]])
    assert not layer.trainable_weights


def test_config_from_dict_rejects_unknown_keys_and_round_trips():
    params = {"hidden_units": [8, 4], "pretrain_epochs": 2, "batch_size": 16}
    config = SAAConfig.from_dict(params)
    assert config.hidden_units == (8, 4)
    assert SAAConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="learning_rat"):
        SAAConfig.from_dict({**params, "learning_rat": 0.1})
    with pytest.raises(ValueError, match="reconstruction_loss"):
        SAAConfig(reconstruction_loss="l1")
