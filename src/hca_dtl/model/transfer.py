"""Deep transfer learning: which layers of a source SAA a target network starts from.

Masks and settings are read by ``hca_dtl.model.masks``. The target's min–max scaler is
never transferred: each target fold fits its own on its TRAIN cells. Where the target's MOAs
include every MOA of the source (the 12-class problem from a Pset's model), the logistic layer is
copied MOA by MOA and the target's other MOAs start as an untransferred logistic layer does (0);
otherwise it is copied by position, as the paper does between Pset2 and Pset1, which share no MOA.

"""

from __future__ import annotations

from collections.abc import Sequence

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
    n_hidden = len(source_model.encoders)
    bits = parse_transfer_mask(mask, n_hidden) if isinstance(mask, str) else tuple(mask)
    if len(bits) != n_hidden + 1:
        raise ValueError(f"Transfer mask {mask!r} has {len(bits)} entries; the source model has "
                         f"{n_hidden} hidden layers + the logistic layer")
    layers = [*((e.kernel, e.bias, e.decoder_bias) for e in source_model.encoders),
              (source_model.logistic.kernel, source_model.logistic.bias)]
    init = [[np.array(ops.convert_to_numpy(v), dtype=np.float32) for v in variables] if bit else None
            for bit, variables in zip(bits, layers)]
    if init[-1] is not None:
        init[-1] = output_layer_by_name(init[-1], getattr(source_model, "metadata", {}).get("classes"),
                                        target_classes)
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
