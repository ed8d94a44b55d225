"""Choosing among candidate settings inside the training folds (nested selection).

Any setting in ``conf/`` may be written ``{candidates: [a, b, ...]}`` instead of a value — the
first candidate is the simplest (the default, and the winner of ties). ``expand`` turns a
parameters mapping into every combination of its candidates. Each outer fold then picks one
combination by one of two rules (``SELECTIONS``), using its own training data only:

- ``validation_wells``: the candidate whose model does best on the fold's validation wells (the
  networks' best validation error, the baselines' validation cell accuracy) — cheap, but the
  validation wells share compounds with the training wells;
- ``inner_compounds``: inner folds hold out groups of the outer fold's training compounds
  (``loocv.with_inner_folds``); the candidate with the highest treatment-vote accuracy over every
  inner held-out treatment wins. This is the nested protocol: no choice sees the outer fold's
  held-out compound, and the choice is judged as the outer evaluation judges.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SELECTIONS = ("validation_wells", "inner_compounds")
CANDIDATES = "candidates"


def is_candidates(value: Any) -> bool:
    """Whether ``value`` is a ``{candidates: [...]}`` mapping."""
    return isinstance(value, Mapping) and set(value) == {CANDIDATES}


def candidate_values(value: Any, where: str) -> list[Any]:
    """The values a setting may take: its candidates, or the value itself.

    Raises:
        ValueError: ``{candidates: ...}`` that is not a non-empty list (named by ``where``).
    """
    if not is_candidates(value):
        return [value]
    values = value[CANDIDATES]
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{where}: candidates must be a non-empty list, got {values!r}")
    return list(values)


def expand(params: Mapping[str, Any], where: str = "parameters") -> list[dict[str, Any]]:
    """Every combination of the candidates in a (nested) parameters mapping, in order: the first
    combination takes every first candidate; later keys vary fastest.

    Returns:
        Plain mappings (no ``{candidates}`` left), at least one.
    """
    options: list[list[Any]] = []
    keys = list(params)
    for key in keys:
        value = params[key]
        if is_candidates(value):
            options.append(candidate_values(value, f"{where}.{key}"))
        elif isinstance(value, Mapping):
            options.append(expand(value, f"{where}.{key}"))
        else:
            options.append([value])
    return [dict(zip(keys, combination)) for combination in itertools.product(*options)]


def varying(combinations: Sequence[Mapping[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    """For each combination, only the flattened settings (``a.b``) that differ between them."""
    flat = [_flatten(c, prefix) for c in combinations]
    keys = [k for k in flat[0] if len({repr(f.get(k)) for f in flat}) > 1] if flat else []
    return [{k: f[k] for k in keys} for f in flat]


def _flatten(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class Candidate:
    """One combination a fold may be trained with.

    Attributes:
        index: Position among the unit's candidates (0: the simplest).
        normalization: Label of its normalisation (a key of the unit's normalizers).
        settings: The method's settings (learner configuration, or a baseline's options).
        members: Networks per fold (networks only).
        label: What distinguishes it from the other candidates (``""`` when it is alone).
    """

    index: int
    normalization: str
    settings: dict[str, Any] = field(hash=False)
    members: int = 1
    label: str = ""


def candidates(normalizations: Sequence[str], settings: Mapping[str, Any], members: Any = 1,
               where: str = "settings") -> list[Candidate]:
    """The unit's candidates: normalisations × settings' candidates × member counts, in order."""
    combos = [(n, s, m) for n in normalizations for s in expand(settings, where)
              for m in candidate_values(members, "loocv.members")]
    described = varying([{"normalization": n, **s, "members": m} for n, s, m in combos])
    return [Candidate(i, n, s, int(m), ", ".join(f"{k}={v}" for k, v in d.items()))
            for i, ((n, s, m), d) in enumerate(zip(combos, described))]


def choose(scores: np.ndarray) -> np.ndarray:
    """(n_candidates, n_folds) scores (higher is better; NaN: no evidence) → (n_folds,) index of
    the winner of each fold: the best score, the earliest (simplest) candidate on ties, the first
    when a fold has no score at all."""
    filled = np.where(np.isnan(scores), -np.inf, scores)
    return np.argmax(filled, axis=0)


def choice_table(candidate_list: Sequence[Candidate], scores: np.ndarray, chosen: np.ndarray,
                 folds: pd.DataFrame, selection: str) -> pd.DataFrame:
    """The record of a unit's choices: one row per (outer fold, candidate).

    Args:
        scores: (n_candidates, n_folds) as given to ``choose``.
        chosen: (n_folds,) its result.
        folds: One row per outer fold, the columns to repeat (keys, ``repetition``, ``fold``,
            ``held_out``).

    Returns:
        ``folds``' columns + ``candidate`` (label), ``candidate_index``, ``score``, ``chosen``
        (bool) and ``selection`` (the rule).
    """
    rows = []
    for f, fold in enumerate(folds.to_dict("records")):
        for c, candidate in enumerate(candidate_list):
            rows.append({**fold, "candidate": candidate.label or "(only candidate)",
                         "candidate_index": c, "score": float(scores[c, f]),
                         "chosen": bool(chosen[f] == c), "selection": selection})
    return pd.DataFrame(rows)
