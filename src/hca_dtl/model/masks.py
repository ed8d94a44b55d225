"""Transfer masks and settings, as written in ``conf/`` (no Keras: the registry and the parameter
checks read them before any training).

A transfer mask has one digit per hidden layer (1..K, left to right) and a last digit for the
output layer: 1 = start from the source model's weights, 0 = random (and, in the paper's
settings, not pretrained). ``[00000011]`` copies hidden layer 7 and the logistic layer;
``[11111111]`` everything; ``[00000000]`` is the baseline without pretraining. A *setting*
(``transfer_setting``) is a mask plus whether the untransferred layers are greedily pretrained,
which learner it is and where its source comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


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


SOURCES = ("other", "all12")
_SETTING_KEYS = ("mask", "pretrain", "learner", "source", "config", "members")


@dataclass(frozen=True)
class TransferSetting:
    """How a target network starts, and which learner it is.

    Attributes:
        mask: Transfer mask (``""``: nothing transferred, as for BL).
        pretrain: Greedily pretrain the layers the mask does not transfer.
        learner: Name of the learner (``hca_dtl.model.learners``): ``saa`` (the paper's) or
            another registered one.
        source: Where transferred layers come from: ``other`` (the other Pset; on the 12-class
            problem, whichever Pset did not hold the fold's compound) or ``all12`` (the 12-class
            problem without the fold's compound).
        config: Settings of the learner that differ for this setting only (e.g.
            ``{freeze_transferred_epochs: 10}``).
        members: Networks per fold for this setting only (default: ``loocv.members``); an
            integer or ``{candidates: [...]}``.
    """

    mask: str
    pretrain: bool
    learner: str = "saa"
    source: str = "other"
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    members: Any = field(default=None, hash=False)

    @property
    def transfers(self) -> bool:
        """Whether any layer comes from a source model."""
        return "1" in self.mask

    @property
    def label(self) -> str:
        """The ``mask`` column of result tables: the mask, marked where the paper's setting is
        changed (``"[00000011] pretrained"``, another learner ``"mlp [0011]"``, another source
        ``"[00000011] from all12"``), so it is never taken for the paper's."""
        parts = [] if self.learner == "saa" else [self.learner]
        if self.mask:
            parts.append(self.mask)
            if self.pretrain:
                parts.append("pretrained")
            if self.source != "other":
                parts.append(f"from {self.source}")
        parts += [f"{k}={v}" for k, v in sorted(self.config.items())]
        if self.members is not None:
            parts.append(f"members={self.members}")
        return " ".join(parts)


BASELINE = TransferSetting("", True)


def check_mask_text(mask: Any, where: str) -> str:
    """A mask as written in ``conf/`` or ``--params``: a quoted string of 0/1 digits, optionally in
    brackets. Its length is checked against the network by ``parse_transfer_mask``.

    Raises:
        ValueError: Not a string (an unquoted ``[00000011]`` is read by YAML as a list holding
            the octal number 9: the message says to quote it), or not only 0/1 digits.
    """
    if not isinstance(mask, str):
        raise ValueError(
            f"{where}: the transfer mask must be a quoted string such as '[00000011]', got "
            f"{mask!r} ({type(mask).__name__}). Unquoted, YAML and --params read [00000011] as a "
            "list holding the octal number 9: write it in quotes, e.g. "
            "--params='transfer.settings.DTL_1=\"[00000011]\"' or DTL_1: \"[00000011]\" in YAML.")
    if re.fullmatch(r"\[[01]+\]|[01]+", mask.strip()) is None:
        raise ValueError(f"{where}: the transfer mask {mask!r} must hold only 0/1 digits, one per "
                         "hidden layer plus the last layer, e.g. '[00000011]'")
    return mask.strip()


def transfer_setting(value: str | dict[str, Any] | None, where: str = "transfer setting") -> TransferSetting:
    """One entry of a settings table (``conf/``) → a ``TransferSetting``.

    ``null`` → the baseline (SAA, nothing transferred, every layer pretrained); a mask string → the
    paper's setting (untransferred layers random, not pretrained; ``"[00000000]"``: an MLP); a
    mapping with keys among ``mask``, ``pretrain`` (default: true without a mask, false with
    one), ``learner`` (default ``saa``), ``source`` (``other`` | ``all12``), ``config``
    (learner settings for this setting only) and ``members`` (networks per fold).

    Raises:
        ValueError: Unknown keys, a mask that is not a quoted 0/1 string, a ``pretrain`` that is not
            true/false, an unknown source or a ``config`` that is not a mapping (named, with
            ``where``).
    """
    if value is None:
        return BASELINE
    if not isinstance(value, dict):
        return TransferSetting(check_mask_text(value, where), False)
    unknown = sorted(set(value) - set(_SETTING_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {list(_SETTING_KEYS)}")
    mask = check_mask_text(value["mask"], where) if value.get("mask") is not None else ""
    pretrain = value.get("pretrain", not mask)
    if not isinstance(pretrain, bool):
        raise ValueError(f"{where}: pretrain must be true or false, got {pretrain!r}")
    source = value.get("source", "other")
    if source not in SOURCES:
        raise ValueError(f"{where}: source must be one of {SOURCES}, got {source!r}")
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{where}: config must be a mapping of learner settings, got {config!r}")
    return TransferSetting(mask, pretrain, str(value.get("learner", "saa")), source, dict(config),
                           value.get("members"))
