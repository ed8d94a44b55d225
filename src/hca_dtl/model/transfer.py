"""Deep transfer learning: which layers of a source SAA a target network starts from.

A transfer mask has one digit per hidden layer (1..K, left to right) and a last digit for the
logistic layer: 1 = copy the source model's weights, 0 = random (and, in the paper's settings,
not pretrained). ``[00000011]`` copies hidden layer 7 and the logistic layer; ``[11111111]``
everything; ``[00000000]`` is the baseline without pretraining. The target's min–max scaler is
never transferred: each target fold fits its own on its TRAIN cells. Where the target's MOAs
include every MOA of the source (the 12-class problem from a Pset's model), the logistic layer is
copied MOA by MOA and the target's other MOAs start as an untransferred logistic layer does (0);
otherwise it is copied by position, as the paper does between Pset2 and Pset1, which share no MOA.

A *setting* (``transfer_setting``) is a mask plus whether the untransferred layers are greedily
pretrained on the target fold's TRAIN cells before fine-tuning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from hca_dtl.model.weights import LayerInit


def parse_transfer_mask(mask: str, n_hidden: int) -> tuple[bool, ...]:
    """``"[00000011]"`` or ``"00000011"`` → one bool per hidden layer 1..K, then the logistic layer.

    Raises:
        ValueError: ``mask`` is not n_hidden + 1 binary digits (named with the expected length).
    """
    match = re.fullmatch(r"\[?([01]+)\]?", str(mask).strip())
    if match is None or len(match.group(1)) != n_hidden + 1 or (
            str(mask).strip().startswith("[") != str(mask).strip().endswith("]")):
        raise ValueError(f"Transfer mask {mask!r} must be {n_hidden + 1} binary digits ({n_hidden} "
                         f"hidden layers + the logistic layer), e.g. '[{'0' * (n_hidden - 1)}11]'")
    return tuple(digit == "1" for digit in match.group(1))


@dataclass(frozen=True)
class TransferSetting:
    """How a target network starts.

    Attributes:
        mask: Transfer mask (``""``: nothing transferred, as for BL).
        pretrain: Greedily pretrain the layers the mask does not transfer.
    """

    mask: str
    pretrain: bool

    @property
    def transfers(self) -> bool:
        """Whether any layer comes from a source model."""
        return "1" in self.mask

    @property
    def label(self) -> str:
        """The ``mask`` column of result tables: the mask, marked where the paper's setting is
        changed by pretraining (``"[00000011] pretrained"``), so it is never taken for it."""
        return f"{self.mask} pretrained" if self.mask and self.pretrain else self.mask


BASELINE = TransferSetting("", True)


def transfer_setting(value: str | dict[str, Any] | None) -> TransferSetting:
    """One entry of a settings table (``conf/``) → a ``TransferSetting``.

    ``null`` → the baseline (nothing transferred, every layer pretrained); a mask string → the
    paper's setting (untransferred layers random, not pretrained; ``"[00000000]"``: an MLP); a
    mapping ``{mask: "[00000011]", pretrain: true}`` → that mask with its untransferred layers
    pretrained.

    Raises:
        ValueError: A mapping without ``mask``, with keys other than ``mask``/``pretrain``, or a
            ``pretrain`` that is not true/false (named).
    """
    if value is None:
        return BASELINE
    if isinstance(value, str):
        return TransferSetting(value, False)
    if not isinstance(value, dict) or "mask" not in value or set(value) - {"mask", "pretrain"}:
        raise ValueError(f"Transfer setting {value!r} must be null, a mask such as '[00000011]', "
                         "or a mapping {mask: '[00000011]', pretrain: true}")
    if not isinstance(value.get("pretrain", False), bool):
        raise ValueError(f"Transfer setting {value!r}: pretrain must be true or false, got "
                         f"{value['pretrain']!r}")
    return TransferSetting(str(value["mask"]), value.get("pretrain", False))


def transfer_init(source_model: keras.Model, mask: str | tuple[bool, ...],
                  target_classes: Sequence[str] | None = None) -> list[LayerInit]:
    """The ``init`` list for ``train_folds``: the source's layer weights where the mask is 1.

    Args:
        source_model: A trained ``SAAClassifier`` (``encoders``, ``logistic``; its
            ``metadata["classes"]`` names the MOA of each output).
        mask: A mask string or the tuple from ``parse_transfer_mask``.
        target_classes: The target's MOA names (C_target). If they include every source MOA, a
            transferred logistic layer is copied by name into a (units, C_target) kernel whose
            other columns (and biases) are 0; otherwise, or when None, by position.

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
    source_classes = list(source_classes)
    if init[-1] is not None and target_classes is not None and source_classes and (
            set(source_classes) <= set(target_classes)):
        kernel, bias = init[-1]
        columns = [list(target_classes).index(name) for name in source_classes]
        init[-1] = [np.zeros((kernel.shape[0], len(target_classes)), np.float32),
                    np.zeros(len(target_classes), np.float32)]
        init[-1][0][:, columns], init[-1][1][columns] = kernel, bias
    return init
