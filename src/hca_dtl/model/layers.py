"""Keras layers of a stacked autoassociator (SAA) and the single-network classifier.

All maths goes through ``keras.ops``, so the layers run on TensorFlow, JAX and PyTorch. The
classes are registered under the package name ``hca_dtl``; importing ``hca_dtl.model`` is enough
to load a saved ``.keras`` file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


def tied_init_limit(fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initial weights of a sigmoid layer: 4·sqrt(6 / (fan_in + fan_out))."""
    return 4.0 * math.sqrt(6.0 / (fan_in + fan_out))


def reconstruction_loss(target: Any, logits: Any, kind: str = "cross_entropy") -> Any:
    """Reconstruction loss of each cell, shape ``target.shape[:-1]``.

    Args:
        target: (..., d) the layer's input, in [0, 1].
        logits: (..., d) pre-sigmoid reconstruction ``z = sigmoid(logits)``.
        kind: ``cross_entropy``: ``-sum_d [x log z + (1 - x) log(1 - z)]`` (the tutorial's),
            evaluated stably as ``sum_d softplus(logits) - x · logits``; ``mse``: mean over the d
            features of ``(z - x)²``.
    """
    target = ops.cast(target, "float32")
    logits = ops.cast(logits, "float32")
    if kind == "cross_entropy":
        return ops.sum(ops.softplus(logits) - target * logits, axis=-1)
    if kind == "mse":
        return ops.mean(ops.square(ops.sigmoid(logits) - target), axis=-1)
    raise ValueError(f"Unknown reconstruction loss {kind!r}; expected 'cross_entropy' or 'mse'")


def tied_encode(inputs: Any, kernel: Any, bias: Any) -> Any:
    """Hidden codes ``sigmoid(x W + b)`` of an autoassociator with tied weights: (..., B, d_in)
    inputs, kernel (..., d_in, units), bias (..., units) → (..., B, units); a leading fold axis
    (F, ...) on all three makes it F autoassociators at once."""
    return ops.sigmoid(ops.matmul(inputs, kernel) + ops.expand_dims(bias, -2))


def tied_reconstruction_logits(hidden: Any, kernel: Any, decoder_bias: Any) -> Any:
    """Pre-sigmoid reconstruction ``h Wᵀ + b'``: (..., B, units) → (..., B, d_in), the kernel
    shared with ``tied_encode``."""
    return ops.matmul(hidden, ops.swapaxes(kernel, -1, -2)) + ops.expand_dims(decoder_bias, -2)


@keras.saving.register_keras_serializable(package="hca_dtl")
class MinMaxScaling(keras.layers.Layer):
    """Min–max scaling to [0, 1], ``clip((x − minimum) · scale, 0, 1)``, with stored statistics.

    ``minimum`` and ``scale`` (1/range; 0 for a feature constant in training) are non-trainable
    weights of shape (n_features,), fitted on a training set's cells (``set_statistics``), so a
    saved model carries its scaler. Values outside the training range are clipped.
    """

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n_features = input_shape[-1]
        self.minimum = self.add_weight(shape=(n_features,), initializer="zeros", trainable=False,
                                       name="minimum")
        self.scale = self.add_weight(shape=(n_features,), initializer="ones", trainable=False,
                                     name="scale")

    def call(self, inputs: Any) -> Any:
        return ops.clip((inputs - self.minimum) * self.scale, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="hca_dtl")
class TiedAutoassociator(keras.layers.Layer):
    """An autoassociator with tied weights: one kernel W (d_in × units) for both directions.

    Encoder ``h = sigmoid(x W + b)`` (``call``); decoder ``z = sigmoid(h Wᵀ + b')``
    (``reconstruct``). Kernel initialised uniformly in ±4·sqrt(6/(d_in + units)), biases 0.
    """

    def __init__(self, units: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.seed = seed

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        d_in = input_shape[-1]
        limit = tied_init_limit(d_in, self.units)
        self.kernel = self.add_weight(
            shape=(d_in, self.units), name="kernel",
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed))
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.decoder_bias = self.add_weight(shape=(d_in,), initializer="zeros", name="decoder_bias")

    def call(self, inputs: Any) -> Any:
        return tied_encode(inputs, self.kernel, self.bias)

    def reconstruction_logits(self, hidden: Any) -> Any:
        """Pre-sigmoid reconstruction ``h Wᵀ + b'`` of hidden codes (cells × units) → (cells × d_in)."""
        return tied_reconstruction_logits(hidden, self.kernel, self.decoder_bias)

    def reconstruct(self, inputs: Any) -> Any:
        """``z = sigmoid(sigmoid(x W + b) Wᵀ + b')``, shape of ``inputs``."""
        return ops.sigmoid(self.reconstruction_logits(self(inputs)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "seed": self.seed}


@keras.saving.register_keras_serializable(package="hca_dtl")
class SAAClassifier(keras.Model):
    """One SAA classifier: MinMaxScaling → K tied autoassociator encoders → softmax logistic layer.

    Input (cells × n_features) raw features; output (cells × n_classes) class probabilities. The
    logistic layer starts at zero (as in the tutorial). ``metadata`` (a JSON-serialisable dict:
    features, classes, training configuration, data source, package versions…) is stored in the
    model's config and so travels inside a saved ``.keras`` file.
    """

    def __init__(self, n_features: int, hidden_units: Sequence[int], n_classes: int,
                 metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_features = int(n_features)
        self.hidden_units = [int(u) for u in hidden_units]
        self.n_classes = int(n_classes)
        self._metadata = dict(metadata or {})
        self.scaling = MinMaxScaling(name="scaling")
        self.encoders = [TiedAutoassociator(u, name=f"autoassociator_{k + 1}")
                         for k, u in enumerate(self.hidden_units)]
        self.logistic = keras.layers.Dense(self.n_classes, activation="softmax",
                                           kernel_initializer="zeros", name="logistic")
        self.build((None, self.n_features))

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's description of this model (features, classes, configuration, …)."""
        return self._metadata

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shape = tuple(input_shape)
        self.scaling.build(shape)
        for encoder in self.encoders:
            encoder.build(shape)
            shape = (shape[0], encoder.units)
        self.logistic.build(shape)
        self.built = True

    def encode(self, inputs: Any, n_layers: int | None = None) -> Any:
        """Hidden code after the first ``n_layers`` encoders (all by default) of scaled ``inputs``."""
        hidden = self.scaling(inputs)
        for encoder in self.encoders[:n_layers]:
            hidden = encoder(hidden)
        return hidden

    def call(self, inputs: Any) -> Any:
        return self.logistic(self.encode(inputs))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, "n_features": self.n_features,
                "hidden_units": self.hidden_units, "n_classes": self.n_classes,
                "metadata": self._metadata}
