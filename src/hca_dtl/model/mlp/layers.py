"""Keras layers of one MLP classifier, registered under ``hca_dtl`` (``load_model`` finds them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from hca_dtl.model.mlp import functions


@keras.saving.register_keras_serializable(package="hca_dtl")
class Standardization(keras.layers.Layer):
    """``(x − mean) · inv_sd`` with stored statistics (non-trainable, (n_features,)), fitted on a
    fold's TRAIN cells; ``inv_sd`` is 0 for a feature constant there, which the network then
    ignores."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n_features = input_shape[-1]
        self.mean = self.add_weight(shape=(n_features,), initializer="zeros", trainable=False,
                                    name="mean")
        self.inv_sd = self.add_weight(shape=(n_features,), initializer="ones", trainable=False,
                                      name="inv_sd")

    def call(self, inputs: Any) -> Any:
        return (inputs - self.mean) * self.inv_sd


@keras.saving.register_keras_serializable(package="hca_dtl")
class TrainingRange(keras.layers.Layer):
    """The training cells' range of each feature, for out-of-range flags (not used to classify).

    ``minimum`` and ``scale`` (1/range; 0 for a feature constant in training) are non-trainable
    (n_features,) weights, as ``MinMaxScaling`` stores them, so
    ``hca_dtl.evaluation.prediction.predict_cells`` reads either. Called, it gives each value's
    position in the range, ``(x − minimum) · scale`` (0 at the minimum, 1 at the maximum).
    """

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n_features = input_shape[-1]
        self.minimum = self.add_weight(shape=(n_features,), initializer="zeros", trainable=False,
                                       name="minimum")
        self.scale = self.add_weight(shape=(n_features,), initializer="ones", trainable=False,
                                     name="scale")

    def call(self, inputs: Any) -> Any:
        return (inputs - self.minimum) * self.scale


@keras.saving.register_keras_serializable(package="hca_dtl")
class DenseBlock(keras.layers.Layer):
    """A hidden layer: ``activation(norm(x W + b))``, norm a layer normalisation or nothing.

    Weights ``kernel`` (d_in × units), ``bias`` (units,) and, with ``layer_norm``, ``gamma`` and
    ``beta`` (units,); as built they are placeholders, assigned from ``MLPFoldWeights``.
    ``decode`` gives the linear, tied-weight reconstruction used by denoising pretraining.
    """

    def __init__(self, units: int, activation: str = "relu", layer_norm: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activation
        self.layer_norm = bool(layer_norm)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        d_in = input_shape[-1]
        self.kernel = self.add_weight(shape=(d_in, self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        if self.layer_norm:
            self.gamma = self.add_weight(shape=(self.units,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(self.units,), initializer="zeros", name="beta")

    def call(self, inputs: Any) -> Any:
        hidden = ops.matmul(inputs, self.kernel) + self.bias
        if self.layer_norm:
            hidden = functions.layer_norm(hidden, self.gamma, self.beta)
        return functions.activate(hidden, self.activation)

    def decode(self, code: Any, decoder_bias: Any) -> Any:
        """(B, units) → (B, d_in) reconstruction ``code Wᵀ + b'`` (linear)."""
        return ops.matmul(code, ops.transpose(self.kernel)) + decoder_bias

    def layer_variables(self) -> list[Any]:
        """``kernel``, ``bias`` (and ``gamma``, ``beta``): what transfer copies."""
        return [self.kernel, self.bias, *((self.gamma, self.beta) if self.layer_norm else ())]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "layer_norm": self.layer_norm}


@keras.saving.register_keras_serializable(package="hca_dtl")
class MLPClassifier(keras.Model):
    """One MLP classifier: standardisation → K ``DenseBlock`` → softmax logistic layer.

    Input (cells × n_features) raw features; output (cells × n_classes) class probabilities.
    ``scaling`` (a ``TrainingRange``) records the training range of each feature for
    out-of-range flags; ``standardization`` holds the TRAIN mean and 1/SD. ``metadata`` (a
    JSON-serialisable dict: features, classes, configuration, data source…) is stored in the
    model's config and so travels inside a saved ``.keras`` file, as ``SAAClassifier``'s does.
    """

    def __init__(self, n_features: int, hidden_units: Sequence[int], n_classes: int,
                 activation: str = "relu", layer_norm: bool = False,
                 metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_features = int(n_features)
        self.hidden_units = [int(u) for u in hidden_units]
        self.n_classes = int(n_classes)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        self._metadata = dict(metadata or {})
        self.scaling = TrainingRange(name="scaling")
        self.standardization = Standardization(name="standardization")
        self.blocks = [DenseBlock(u, activation, layer_norm, name=f"dense_{k + 1}")
                       for k, u in enumerate(self.hidden_units)]
        self.logistic = keras.layers.Dense(self.n_classes, name="logistic")
        self.build((None, self.n_features))

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's description of this model (features, classes, configuration, …)."""
        return self._metadata

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shape = tuple(input_shape)
        self.scaling.build(shape)
        self.standardization.build(shape)
        for block in self.blocks:
            block.build(shape)
            shape = (shape[0], block.units)
        self.logistic.build(shape)
        self.built = True

    def hidden(self, inputs: Any, n_layers: int | None = None,
               dropout: tuple[float, Any, Any] | None = None) -> Any:
        """Code (B, d) after the first ``n_layers`` blocks (all if None) of raw ``inputs`` (B, D).

        Args:
            dropout: None (inference) or (rate, keys (K,) int32 noise keys of the dropout layers,
                cells (B,) int32 cell indices): ``functions.keyed_uniform`` masks.
        """
        hidden = self.standardization(inputs)
        for k, block in enumerate(self.blocks[:n_layers]):
            hidden = block(hidden)
            if dropout is not None and dropout[0] > 0:
                rate, keys, cells = dropout
                hidden = functions.dropout(
                    hidden, functions.keyed_uniform(keys[k], cells, block.units), rate)
        return hidden

    def logits(self, inputs: Any, dropout: tuple[float, Any, Any] | None = None) -> Any:
        """(B, D) raw features → (B, C) pre-softmax scores (``dropout`` as in ``hidden``)."""
        return self.logistic(self.hidden(inputs, dropout=dropout))

    def call(self, inputs: Any) -> Any:
        return ops.softmax(self.logits(inputs), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, "n_features": self.n_features,
                "hidden_units": self.hidden_units, "n_classes": self.n_classes,
                "activation": self.activation, "layer_norm": self.layer_norm,
                "metadata": self._metadata}
