"""Splitting the 12 BBBC021 MOAs into the paper's two 6-MOA problems, Pset1 and Pset2.

The paper (Suppl. Table S1) puts MOAs that were imaged in the same batches (weeks) into the same
problem, so that within a problem batch cannot stand in for class. ``split_moas`` makes that a
search: over all even partitions of the MOAs it maximises the **shared-batch score**, the number
of (MOA pair, week) co-occurrences kept within one problem,

    score(P1, P2) = sum over problems P, over pairs {a, b} ⊂ P of |weeks(a) ∩ weeks(b)|,

optionally among only the partitions that meet given compound/treatment counts. On the real
metadata the paper's counts (Pset1: 20 compounds / 42 treatments; Pset2: 18 / 61) are met by
three partitions, scoring 31, 24 and 20; the best is ``PAPER_PSET1`` / ``PAPER_PSET2``. Without
the counts, several partitions tie at that same score 31 (ties go to the alphabetically first
Pset1), so give the counts to reproduce the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import pandas as pd

from hca_dtl.data.metadata import batch_sort_key, treatment_table
from hca_dtl.data.schema import BATCH, COMPOUND, CONTROL_MOA, LABEL, MOA, TREATMENT

PAPER_PSET1 = [
    "Actin disruptors",
    "DNA replication",
    "Epithelial",
    "Kinase inhibitors",
    "Microtubule stabilizers",
    "Protein degradation",
]
PAPER_PSET2 = [
    "Aurora kinase inhibitors",
    "Cholesterol-lowering",
    "DNA damage",
    "Eg5 inhibitors",
    "Microtubule destabilizers",
    "Protein synthesis",
]
PAPER_TARGET_COUNTS = {
    "pset1": {"compounds": 20, "treatments": 42},
    "pset2": {"compounds": 18, "treatments": 61},
}
_COUNTS = ("compounds", "treatments")


def _moa_profiles(treatments: pd.DataFrame) -> dict[str, dict[str, frozenset[str]]]:
    """Per MOA (controls excluded): its compounds, treatments and weeks (``batches``)."""
    missing = [c for c in (COMPOUND, TREATMENT, MOA, "batches") if c not in treatments.columns]
    if missing:
        raise ValueError(f"The treatments table lacks the column(s) {missing}.")
    annotated = treatments[treatments[MOA].astype(str) != CONTROL_MOA]
    profiles = {}
    for moa, group in annotated.groupby(annotated[MOA].astype(str), sort=True):
        profiles[moa] = {
            "compounds": frozenset(group[COMPOUND].astype(str)),
            "treatments": frozenset(group[TREATMENT].astype(str)),
            "weeks": frozenset(w for batches in group["batches"] for w in batches),
        }
    return profiles


def _counts(profiles: Mapping[str, Mapping[str, frozenset[str]]], moas: Sequence[str]) -> dict[str, int]:
    return {k: len(frozenset().union(*(profiles[m][k] for m in moas))) for k in _COUNTS}


def _meets(counts: Mapping[str, int], target: Mapping[str, int] | None) -> bool:
    return target is None or all(counts[k] == v for k, v in target.items())


def _check_target_counts(target_counts: Mapping[str, Mapping[str, int]]) -> None:
    for problem, counts in target_counts.items():
        if problem not in ("pset1", "pset2") or set(counts) - set(_COUNTS):
            raise ValueError(
                f"target_counts[{problem!r}] = {dict(counts)} is not understood; expected "
                "{'pset1': {'compounds': n, 'treatments': n}, 'pset2': {...}}."
            )


def partitions(
    treatments: pd.DataFrame, target_counts: Mapping[str, Mapping[str, int]] | None = None
) -> pd.DataFrame:
    """Scores every even partition of the MOAs into (Pset1, Pset2).

    Args:
        treatments: one row per treatment (``metadata.treatment_table``): compound, treatment,
            MOA and ``batches`` (list of weeks).
        target_counts: e.g. ``PAPER_TARGET_COUNTS``; only partitions whose Pset1 and Pset2 have
            exactly these numbers of compounds / treatments are kept. Without it, Pset1 is the
            half that holds the alphabetically first MOA.

    Returns:
        One row per partition, best first (shared-batch score descending, then Pset1's sorted
        MOA names ascending): ``pset1``, ``pset2`` (tuples of MOA names), ``score`` and the
        counts ``pset1_compounds``, ``pset1_treatments``, ``pset2_compounds``,
        ``pset2_treatments``.
    """
    profiles = _moa_profiles(treatments)
    moas = sorted(profiles)
    if len(moas) < 2 or len(moas) % 2:
        raise ValueError(f"Cannot split {len(moas)} MOAs into two equal halves: {moas}.")
    if target_counts is not None:
        _check_target_counts(target_counts)
    targets = target_counts or {}
    rows = []
    for pset1 in combinations(moas, len(moas) // 2):
        if target_counts is None and moas[0] not in pset1:
            continue
        pset2 = tuple(m for m in moas if m not in pset1)
        counts = {"pset1": _counts(profiles, pset1), "pset2": _counts(profiles, pset2)}
        if not all(_meets(counts[p], targets.get(p)) for p in counts):
            continue
        score = sum(
            len(profiles[a]["weeks"] & profiles[b]["weeks"])
            for half in (pset1, pset2)
            for a, b in combinations(half, 2)
        )
        rows.append(
            {"pset1": pset1, "pset2": pset2, "score": score}
            | {f"{p}_{k}": counts[p][k] for p in counts for k in _COUNTS}
        )
    rows.sort(key=lambda row: (-row["score"], row["pset1"]))
    return pd.DataFrame(
        rows,
        columns=["pset1", "pset2", "score", *(f"{p}_{k}" for p in ("pset1", "pset2") for k in _COUNTS)],
    )


def split_moas(
    treatments: pd.DataFrame,
    *,
    method: str = "batch_aware",
    pset1: Sequence[str] | None = None,
    target_counts: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[list[str], list[str]]:
    """Splits the MOAs of ``treatments`` into Pset1 and Pset2.

    Args:
        treatments: one row per treatment (``metadata.treatment_table``).
        method: ``"explicit"`` (Pset1 is ``pset1``, Pset2 the other MOAs) or ``"batch_aware"``
            (the best-scoring partition of ``partitions``, meeting ``target_counts`` if given).
        pset1: the MOAs of Pset1, for ``"explicit"`` only.
        target_counts: compound/treatment counts per problem, for ``"batch_aware"`` only.

    Returns:
        ``(pset1, pset2)``, each a sorted list of MOA names.
    """
    if method == "explicit":
        check_pset1(pset1)
        moas = sorted(_moa_profiles(treatments))
        unknown = sorted(set(pset1) - set(moas))
        if unknown:
            raise ValueError(f"Unknown MOA(s) in pset1: {unknown}; known: {moas}.")
        first = sorted(set(pset1))
        second = [m for m in moas if m not in first]
        if not second:
            raise ValueError("pset1 holds every MOA; Pset2 would be empty.")
        return first, second
    if method == "batch_aware":
        candidates = partitions(treatments, target_counts)
        if candidates.empty:
            raise ValueError(f"No partition of the MOAs meets target_counts={dict(target_counts)}.")
        best = candidates.iloc[0]
        return list(best["pset1"]), list(best["pset2"])
    raise ValueError(f"method must be 'explicit' or 'batch_aware', got {method!r}.")


def check_pset1(pset1: Sequence[str] | None) -> None:
    """Raises ``ValueError`` if the explicit Pset1 list is missing or names an MOA twice."""
    if not pset1:
        raise ValueError("psets.method 'explicit' needs the list of Pset1 MOAs in psets.pset1.")
    repeated = sorted({m for m in pset1 if list(pset1).count(m) > 1})
    if repeated:
        raise ValueError(f"psets.pset1 lists {repeated} more than once; each MOA belongs to one "
                         "problem once (a repeat would silently make a 5/7 split).")


def check_parameters(params: Mapping[str, Any]) -> None:
    """Checks ``params:psets`` before anything runs: known keys, method, the Pset1 list, counts.

    Raises:
        ValueError: Naming the key or value at fault.
    """
    unknown = sorted(set(params) - {"method", "pset1", "target_counts"})
    if unknown:
        raise ValueError(f"Unknown psets key(s) {unknown}; known: ['method', 'pset1', 'target_counts'].")
    method = params.get("method", "batch_aware")
    if method not in ("explicit", "batch_aware"):
        raise ValueError(f"psets.method must be 'explicit' or 'batch_aware', got {method!r}.")
    if method == "explicit":
        check_pset1(params.get("pset1"))
    if params.get("target_counts"):
        _check_target_counts(params["target_counts"])


def make_problem(cells: pd.DataFrame, moas: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The classification problem over ``moas``: their cells (controls excluded) and labels.

    Returns:
        ``(cells, classes)``: the rows of ``cells`` whose MOA is in ``moas``, re-indexed from 0,
        with an int64 column ``Metadata_Label`` (``classes[label] == MOA``; ``classes`` is
        ``moas`` sorted). Categorical columns drop their unused categories.
    """
    classes = sorted(set(moas))
    if CONTROL_MOA in classes:
        raise ValueError(f"{CONTROL_MOA!r} is the control, not a class.")
    present = set(cells[MOA].astype(str).unique())
    unknown = [m for m in classes if m not in present]
    if unknown:
        raise ValueError(f"MOA(s) {unknown} have no cells; present: {sorted(present - {CONTROL_MOA})}.")
    problem = cells.loc[cells[MOA].astype(str).isin(classes)].reset_index(drop=True)
    for column in problem.select_dtypes("category").columns:
        problem[column] = problem[column].cat.remove_unused_categories()
    codes = {moa: code for code, moa in enumerate(classes)}
    problem[LABEL] = problem[MOA].astype(str).map(codes).astype("int64")
    return problem, classes


def split_psets(
    cells: pd.DataFrame, treatments: pd.DataFrame | None, params: Mapping[str, Any]
) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """Pset1, Pset2 and the problem over all their MOAs (``all12``).

    Args:
        cells: cells table (cells × (metadata + features)), controls included or not.
        treatments: one row per treatment, or ``None`` to derive it from ``cells``.
        params: ``method`` (default ``"batch_aware"``), ``pset1`` and ``target_counts`` as in
            ``split_moas``.

    Returns:
        ``{"pset1": (cells, classes), "pset2": ..., "all12": ...}`` as from ``make_problem``.
    """
    check_parameters(params)
    if treatments is None:
        treatments = treatment_table(cells)
    pset1, pset2 = split_moas(
        treatments,
        method=params.get("method", "batch_aware"),
        pset1=params.get("pset1"),
        target_counts=params.get("target_counts"),
    )
    return {
        "pset1": make_problem(cells, pset1),
        "pset2": make_problem(cells, pset2),
        "all12": make_problem(cells, pset1 + pset2),
    }


def pset_summary(problems: Mapping[str, tuple[pd.DataFrame, list[str]]]) -> pd.DataFrame:
    """The paper's Suppl. Table S1: what each problem holds, per MOA.

    Returns:
        One row per (problem, MOA), in problem then label order: ``problem``, ``label``,
        ``moa``, ``compounds``, ``treatments``, ``cells`` (counts) and ``batches`` (the weeks,
        comma-joined in natural order), from the schema's batch column.
    """
    rows = []
    for name, (cells, classes) in problems.items():
        for label, moa in enumerate(classes):
            group = cells[cells[LABEL] == label]
            weeks = sorted(set(group[BATCH].astype(str)), key=batch_sort_key)
            rows.append(
                {
                    "problem": name,
                    "label": label,
                    "moa": moa,
                    "compounds": group[COMPOUND].nunique(),
                    "treatments": group[TREATMENT].nunique(),
                    "cells": len(group),
                    "batches": ", ".join(weeks),
                }
            )
    columns = ["problem", "label", "moa", "compounds", "treatments", "cells", "batches"]
    return pd.DataFrame(rows, columns=columns)
