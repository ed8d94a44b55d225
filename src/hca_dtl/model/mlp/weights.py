"""Per-fold weights of F MLP classifiers as numpy arrays (fold axis first), and their start."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

from hca_dtl.model.mlp.config import MLPConfig
from hca_dtl.model.mlp.functions import glorot_uniform_limit, he_uniform_limit
from hca_dtl.model.mlp.layers import MLPClassifier
from hca_dtl.model.streams import checked_keys, init_rng
from hca_dtl.model.weights import LayerInit, checked_init, layer_copy


@dataclasses.dataclass
class MLPFoldWeights:
    """Weights of F MLP classifiers, each float32 array with the fold axis first.

    Attributes:
        minimum, scale: (F, D) TRAIN range of each feature (scale = 1/range, 0 if constant).
        mean, inv_sd: (F, D) TRAIN mean and 1/SD of each feature (inv_sd 0 if constant).
        hidden: Per hidden layer k: [kernel (F, d_k-1, d_k), bias (F, d_k)] and, with layer
            normalisation, [gamma (F, d_k), beta (F, d_k)] after them.
        logistic: [kernel (F, d_K, C), bias (F, C)].
    """

    minimum: np.ndarray
    scale: np.ndarray
    mean: np.ndarray
    inv_sd: np.ndarray
    hidden: list[list[np.ndarray]]
    logistic: list[np.ndarray]

    @property
    def n_folds(self) -> int:
        return self.minimum.shape[0]

    def network_arrays(self) -> list[np.ndarray]:
        """The arrays a fold-batched network holds: ``mean``, ``inv_sd``, each hidden layer's,
        the logistic layer's (``FoldMLP.variables_in_order``)."""
        return [self.mean, self.inv_sd, *(a for layer in self.hidden for a in layer), *self.logistic]

    def with_network_arrays(self, arrays: Sequence[np.ndarray]) -> MLPFoldWeights:
        """A copy with ``network_arrays`` replaced (same structure); the range is kept."""
        return MLPFoldWeights.from_arrays([self.minimum, self.scale, *arrays], len(self.hidden))

    def arrays(self) -> list[np.ndarray]:
        """All arrays: the range, then ``network_arrays``."""
        return [self.minimum, self.scale, *self.network_arrays()]

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], n_hidden: int) -> MLPFoldWeights:
        """Inverse of ``arrays`` for a network of ``n_hidden`` hidden layers."""
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        per_layer, remainder = divmod(len(arrays) - 6, n_hidden)
        if remainder or per_layer not in (2, 4):
            raise ValueError(f"{len(arrays)} arrays do not make an MLP of {n_hidden} hidden layers")
        hidden = [arrays[4 + k * per_layer:4 + (k + 1) * per_layer] for k in range(n_hidden)]
        return cls(*arrays[:4], hidden, arrays[-2:])

    def fold(self, fold: int) -> list[np.ndarray]:
        """The arrays of one fold (fold axis dropped), in ``arrays`` order."""
        return [a[fold] for a in self.arrays()]

    @classmethod
    def stack(cls, folds: Sequence[Sequence[np.ndarray]], n_hidden: int) -> MLPFoldWeights:
        """Stacks per-fold array lists (``fold`` order) along a new leading fold axis."""
        return cls.from_arrays([np.stack(parts) for parts in zip(*folds)], n_hidden)


def fit_standardization(x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 1/SD (population SD) of each feature over each fold's TRAIN cells only.

    Args:
        x: (N, D) raw features; train: (N, F) bool, each fold's TRAIN cells.

    Returns:
        mean, inv_sd: (F, D) float32; inv_sd 0 where a feature is constant over the fold's TRAIN
        cells (the network then ignores it, as the SAA's min–max scaler does).
    """
    mean = np.empty((train.shape[1], x.shape[1]), dtype=np.float32)
    inv_sd = np.empty_like(mean)
    for fold in range(train.shape[1]):
        cells = x[train[:, fold]].astype(np.float64)
        sd = cells.std(axis=0)
        mean[fold] = cells.mean(axis=0)
        inv_sd[fold] = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
    return mean, inv_sd


def layer_shapes(n_features: int, n_classes: int, config: MLPConfig) -> list[list[tuple[int, ...]]]:
    """Per layer (hidden 1..K, logistic), the shapes of its arrays in one network."""
    sizes = [n_features, *config.hidden_units]
    norm = (lambda u: [(u,), (u,)]) if config.layer_norm else (lambda u: [])
    shapes = [[(sizes[k], sizes[k + 1]), (sizes[k + 1],), *norm(sizes[k + 1])]
              for k in range(len(config.hidden_units))]
    return [*shapes, [(sizes[-1], n_classes), (n_classes,)]]


def initial_weights_mlp(n_features: int, n_classes: int, n_folds: int, config: MLPConfig,
                        init: Sequence[LayerInit] | None = None,
                        keys: np.ndarray | None = None) -> MLPFoldWeights:
    """Initial weights of F folds: random where ``init`` is None, else copies of ``init``.

    Hidden kernels are He-uniform (±sqrt(6/fan_in)), the logistic kernel Glorot-uniform, biases
    and ``beta`` 0, ``gamma`` 1. Fold f draws from ``streams.init_rng(seed, keys[f])`` every
    layer, transferred or not, so a fresh layer does not depend on the mask. Range and
    standardisation are the identity until fitted on each fold's TRAIN cells.

    Args:
        init: None or K + 1 entries (``checked_init``): [kernel, bias(, gamma, beta)] of a
            hidden layer, [kernel, bias] of the logistic layer, shared or with a fold axis.
        keys: (F, k) network keys (default: fold f is (f,)).

    Raises:
        ValueError: ``init`` has the wrong length, or a transferred layer's shapes differ from the
            target's (named), e.g. a layer with layer normalisation into one without.
    """
    shapes = layer_shapes(n_features, n_classes, config)
    init, per_fold = checked_init(init, shapes, n_folds)
    folds = []
    for fold, key in enumerate(checked_keys(keys, n_folds)):
        rng = init_rng(config.seed, key)
        arrays = [np.zeros(n_features, np.float32), np.ones(n_features, np.float32)] * 2
        for k, layer in enumerate(shapes):
            (d_in, d_out), *rest = layer
            limit = (glorot_uniform_limit(d_in, d_out) if k == len(shapes) - 1
                     else he_uniform_limit(d_in))
            fresh = [rng.uniform(-limit, limit, (d_in, d_out)).astype(np.float32),
                     np.zeros(d_out, np.float32)]
            if len(rest) == 3:  # gamma, beta
                fresh += [np.ones(d_out, np.float32), np.zeros(d_out, np.float32)]
            arrays += layer_copy(init[k], per_fold[k], fold) if init[k] is not None else fresh
        folds.append(arrays)
    return MLPFoldWeights.stack(folds, len(config.hidden_units))


def classifier_variables(model: MLPClassifier) -> list[Any]:
    """A classifier's variables in ``MLPFoldWeights.fold`` order."""
    return [model.scaling.minimum, model.scaling.scale, model.standardization.mean,
            model.standardization.inv_sd, *(v for b in model.blocks for v in b.layer_variables()),
            model.logistic.kernel, model.logistic.bias]


def classifier_weights_mlp(model: MLPClassifier) -> list[np.ndarray]:
    """A classifier's weights in ``MLPFoldWeights.fold`` order."""
    return [np.array(ops.convert_to_numpy(v), dtype=np.float32) for v in classifier_variables(model)]


def set_classifier_weights_mlp(model: MLPClassifier, arrays: Sequence[np.ndarray]) -> None:
    """Assigns ``MLPFoldWeights.fold`` arrays to a classifier."""
    for variable, value in zip(classifier_variables(model), arrays, strict=True):
        variable.assign(np.asarray(value, dtype=np.float32))
