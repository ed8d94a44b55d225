"""Per-fold weights of F stacked autoassociator classifiers as numpy arrays (fold axis first).

The neutral form both training engines start from and return: the fold-batched engine loads it
into its stacked layers, the sequential one into one ``SAAClassifier`` per fold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

from hca_dtl.model.config import SAAConfig
from hca_dtl.model.layers import SAAClassifier, tied_init_limit
from hca_dtl.model.streams import checked_keys, init_rng

# An ``init`` entry: [kernel (d_in, units), bias (units,), decoder_bias (d_in,)] for a hidden
# layer, [kernel (units, n_classes), bias (n_classes,)] for the logistic layer, or None.
LayerInit = Sequence[np.ndarray] | None


@dataclasses.dataclass
class FoldWeights:
    """Weights of F classifiers, each array with the fold axis first (float32).

    Attributes:
        minimum, scale: (F, D) min–max scaler of each fold (scale = 1/range, 0 if constant).
        kernels: per hidden layer k, (F, d_k-1, d_k) tied kernel.
        biases: per hidden layer, (F, d_k) encoder bias.
        decoder_biases: per hidden layer, (F, d_k-1) decoder bias.
        logistic_kernel: (F, d_K, C); logistic_bias: (F, C).
    """

    minimum: np.ndarray
    scale: np.ndarray
    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    decoder_biases: list[np.ndarray]
    logistic_kernel: np.ndarray
    logistic_bias: np.ndarray

    @property
    def n_folds(self) -> int:
        return self.minimum.shape[0]

    def arrays(self) -> list[np.ndarray]:
        """All arrays in a fixed order (scaler, then per layer kernel/bias/decoder bias, logistic)."""
        layers = [a for k in range(len(self.kernels))
                  for a in (self.kernels[k], self.biases[k], self.decoder_biases[k])]
        return [self.minimum, self.scale, *layers, self.logistic_kernel, self.logistic_bias]

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray]) -> FoldWeights:
        """Inverse of ``arrays``."""
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        hidden = arrays[2:-2]
        return cls(arrays[0], arrays[1], hidden[0::3], hidden[1::3], hidden[2::3], arrays[-2],
                   arrays[-1])

    def fold(self, fold: int) -> list[np.ndarray]:
        """The arrays of one fold (fold axis dropped), in ``arrays`` order."""
        return [a[fold] for a in self.arrays()]

    @classmethod
    def stack(cls, folds: Sequence[Sequence[np.ndarray]]) -> FoldWeights:
        """Stacks per-fold array lists (``fold`` order) along a new leading fold axis."""
        return cls.from_arrays([np.stack(parts) for parts in zip(*folds)])


def fit_min_max(x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min–max statistics of each fold, fitted on that fold's TRAIN cells only.

    Args:
        x: (N, D) raw features.
        train: (N, F) bool, the fold's TRAIN cells.

    Returns:
        minimum, scale: (F, D) float32; scale = 1/(max − min), 0 for a feature constant in training.
    """
    minimum = np.empty((train.shape[1], x.shape[1]), dtype=np.float32)
    scale = np.empty_like(minimum)
    for fold in range(train.shape[1]):
        cells = x[train[:, fold]]
        low, high = cells.min(axis=0), cells.max(axis=0)
        span = high - low
        minimum[fold] = low
        scale[fold] = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0)
    return minimum, scale


def initial_weights(n_features: int, n_classes: int, n_folds: int, config: SAAConfig,
                    init: Sequence[LayerInit] | None = None,
                    keys: np.ndarray | None = None) -> FoldWeights:
    """Initial weights of F folds: random where ``init`` is None, else copies of ``init``.

    Random hidden kernels are uniform in ±4·sqrt(6/(fan_in + fan_out)), biases 0, the logistic
    layer 0 (as the tutorial). Fold f draws from ``streams.init_rng(seed, keys[f])`` (``keys``:
    (F, k) network keys, default (f,)), every layer whether transferred or not, so a fresh layer
    does not depend on the mask. The scaler is the identity until fitted on each fold's TRAIN cells.
    A transferred layer's arrays are shared by every fold, or carry a leading fold axis (F, ...)
    when folds start from different source models.

    Raises:
        ValueError: ``init`` has the wrong length, or a transferred layer's shape differs from the
            target's (the message names the layer and both shapes).
    """
    sizes = [n_features, *config.hidden_units]
    n_hidden = len(config.hidden_units)
    expected = [[(sizes[k], sizes[k + 1]), (sizes[k + 1],), (sizes[k],)] for k in range(n_hidden)]
    expected.append([(sizes[-1], n_classes), (n_classes,)])
    init, per_fold = checked_init(init, expected, n_folds)

    def copied(k: int, fold: int) -> list[np.ndarray]:
        return layer_copy(init[k], per_fold[k], fold)

    folds = []
    for fold, key in enumerate(checked_keys(keys, n_folds)):
        rng = init_rng(config.seed, key)
        arrays: list[np.ndarray] = [np.zeros(n_features, np.float32), np.ones(n_features, np.float32)]
        for k in range(n_hidden):
            limit = tied_init_limit(sizes[k], sizes[k + 1])
            fresh = [rng.uniform(-limit, limit, (sizes[k], sizes[k + 1])).astype(np.float32),
                     np.zeros(sizes[k + 1], np.float32), np.zeros(sizes[k], np.float32)]
            arrays += copied(k, fold) if init[k] is not None else fresh
        arrays += (copied(n_hidden, fold) if init[n_hidden] is not None else
                   [np.zeros((sizes[-1], n_classes), np.float32), np.zeros(n_classes, np.float32)])
        folds.append(arrays)
    return FoldWeights.stack(folds)


def checked_init(init: Sequence[LayerInit] | None, expected: Sequence[Sequence[tuple[int, ...]]],
                 n_folds: int) -> tuple[list[LayerInit], list[bool]]:
    """Checks an ``init`` list against the target network's weight shapes.

    Args:
        init: None (nothing transferred) or one entry per layer (hidden layers 1..K, then the
            logistic layer): None, or that layer's arrays, shared by every fold or with a leading
            fold axis (F, ...).
        expected: Per layer, the shapes of its arrays in the target network (no fold axis).

    Returns:
        The entries (None where nothing is transferred) and, per layer, whether its arrays carry
        a fold axis.

    Raises:
        ValueError: ``init`` has the wrong length, or a transferred layer's shapes differ from the
            target's (the message names the layer and both shapes).
    """
    n_hidden = len(expected) - 1
    init = list(init) if init is not None else [None] * len(expected)
    if len(init) != len(expected):
        raise ValueError(f"init has {len(init)} entries; expected {len(expected)} "
                         f"({n_hidden} hidden layers + the logistic layer)")
    per_fold = [False] * len(expected)
    for k, (entry, shapes) in enumerate(zip(init, expected)):
        if entry is None:
            continue
        got = [tuple(np.shape(a)) for a in entry]
        per_fold[k] = got == [(n_folds, *s) for s in shapes]
        if got != [tuple(s) for s in shapes] and not per_fold[k]:
            name = "logistic layer" if k == n_hidden else f"hidden layer {k + 1}"
            raise ValueError(f"Transferred {name} has weight shapes {got}; the target network "
                             f"needs {[tuple(s) for s in shapes]}")
    return init, per_fold


def layer_copy(entry: Sequence[np.ndarray], per_fold: bool, fold: int) -> list[np.ndarray]:
    """Fold ``fold``'s float32 copy of a checked ``init`` entry (``checked_init``)."""
    return [np.array(a[fold] if per_fold else a, np.float32) for a in entry]


def classifier_weights(model: SAAClassifier) -> list[np.ndarray]:
    """A classifier's weights in ``FoldWeights.fold`` order."""
    arrays = [model.scaling.minimum, model.scaling.scale]
    for encoder in model.encoders:
        arrays += [encoder.kernel, encoder.bias, encoder.decoder_bias]
    arrays += [model.logistic.kernel, model.logistic.bias]
    return [np.array(ops.convert_to_numpy(a), dtype=np.float32) for a in arrays]


def set_classifier_weights(model: SAAClassifier, arrays: Sequence[np.ndarray]) -> None:
    """Assigns ``FoldWeights.fold`` arrays to a classifier."""
    variables: list[Any] = [model.scaling.minimum, model.scaling.scale]
    for encoder in model.encoders:
        variables += [encoder.kernel, encoder.bias, encoder.decoder_bias]
    variables += [model.logistic.kernel, model.logistic.bias]
    for variable, value in zip(variables, arrays, strict=True):
        variable.assign(np.asarray(value, dtype=np.float32))
