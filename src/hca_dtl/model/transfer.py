"""Deep transfer learning: which layers of a source network a target network starts from.

Masks and settings are read by ``hca_dtl.model.masks``. The target's input scaling is never
transferred: each target fold fits its own on its TRAIN cells. The output layer is laid out for
the target's MOAs by ``output_layer_by_name``: MOA by MOA where one problem's MOAs include the
other's (the 12-class problem and a Pset), by position otherwise (the paper, between Pset2 and
Pset1, which share no MOA).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from hca_dtl.model.masks import parse_transfer_mask
from hca_dtl.model.weights import LayerInit


def transfer_init(source_model: keras.Model, mask: str | tuple[bool, ...],
                  target_classes: Sequence[str] | None = None) -> list[LayerInit]:
    """The ``init`` list for ``train_folds``: the source's layer weights where the mask is 1.

    Args:
        source_model: A trained ``SAAClassifier`` (``encoders``, ``logistic``; its
            ``metadata["classes"]`` names the MOA of each output).
        mask: A mask string or the tuple from ``parse_transfer_mask``.
        target_classes: The target's MOA names (C_target): a transferred logistic layer is laid
            out for them by ``output_layer_by_name``.

    Returns:
        K + 1 entries: None, or [kernel (d_in, units), bias (units,), decoder_bias (d_in,)] for a
        hidden layer and [kernel (units, C), bias (C,)] for the logistic layer (numpy copies).
        ``train_folds`` checks them against the target network and raises ValueError naming the
        layer and both shapes on a mismatch.
    """
    layers = [*((e.kernel, e.bias, e.decoder_bias) for e in source_model.encoders),
              (source_model.logistic.kernel, source_model.logistic.bias)]
    return init_from_layers(layers, mask, model_classes(source_model), target_classes)


def model_classes(source_model: keras.Model) -> list[str]:
    """The MOA of each output of a source model (``metadata["classes"]``; [] if unrecorded)."""
    return list(getattr(source_model, "metadata", {}).get("classes", []))


def init_from_layers(layers: Sequence[Sequence[Any]], mask: str | tuple[bool, ...],
                     source_classes: Sequence[str],
                     target_classes: Sequence[str] | None = None) -> list[LayerInit]:
    """``transfer_init`` for any source network given as its layers' variables.

    Args:
        layers: K + 1 entries: the variables (or arrays) of hidden layers 1..K, then those of the
            logistic layer (kernel (units, C), bias (C,)).
        mask: A mask string or the tuple from ``parse_transfer_mask`` (K + 1 entries).
        source_classes: The source's MOA names (C), [] if unknown (copy by position).
        target_classes: See ``transfer_init``.

    Returns:
        K + 1 entries: None, or numpy float32 copies of the layer's arrays where the mask is 1.
    """
    n_hidden = len(layers) - 1
    bits = parse_transfer_mask(mask, n_hidden) if isinstance(mask, str) else tuple(mask)
    if len(bits) != n_hidden + 1:
        raise ValueError(f"Transfer mask {mask!r} has {len(bits)} entries; the source model has "
                         f"{n_hidden} hidden layers + the logistic layer")
    init = [[np.array(ops.convert_to_numpy(v), dtype=np.float32) for v in variables] if bit else None
            for bit, variables in zip(bits, layers)]
    if init[-1] is not None:
        init[-1] = output_layer_by_name(init[-1], list(source_classes), target_classes)
    return init


def output_layer_by_name(layer: Sequence[np.ndarray], source_classes: Sequence[str] | None,
                         target_classes: Sequence[str] | None) -> list[np.ndarray]:
    """A transferred output layer [kernel (units, C_source), bias (C_source,)] laid out for the
    target's classes: where one class list includes the other, columns go MOA by MOA (a target
    MOA the source lacks starts at 0, as an untransferred output layer does); otherwise, or
    without class lists, by position (the paper, between Pset2 and Pset1, which share no MOA)."""
    kernel, bias = (np.asarray(a, np.float32) for a in layer)
    if not source_classes or target_classes is None:
        return [kernel, bias]
    source, target = list(source_classes), list(target_classes)
    if set(source) <= set(target):
        columns = [target.index(name) for name in source]
        out = [np.zeros((kernel.shape[0], len(target)), np.float32), np.zeros(len(target), np.float32)]
        out[0][:, columns], out[1][columns] = kernel, bias
        return out
    if set(target) <= set(source):
        columns = [source.index(name) for name in target]
        return [kernel[:, columns].copy(), bias[columns].copy()]
    return [kernel, bias]
