"""Building the library's frozen configuration dataclasses from Kedro parameter mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def config_from_dict(cls, params: Mapping[str, Any]):
    """Builds the frozen dataclass ``cls`` from a (Kedro parameters) mapping.

    Raises:
        ValueError: ``params`` has keys that are not fields of ``cls`` (named in the message).
    """
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} key(s) {unknown}; known: {sorted(known)}.")
    return cls(**dict(params))
