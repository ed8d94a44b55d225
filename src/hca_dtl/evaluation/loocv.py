"""Leave-one-compound-out (LOOCV) fold plans: which cells train, validate and test each fold.

The paper holds out all cells of one compound (every concentration) per fold and splits the
remaining cells into a training set and a validation set for early stopping. We split by whole
groups — wells (plate + well) by default — because the cells of one well are strongly correlated:
a validation set of cells drawn from training wells would make early stopping optimistic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    CONTROL_MOA,
    MOA,
    PLATE,
    ROLE_TEST,
    ROLE_TRAIN,
    ROLE_UNUSED,
    ROLE_VALID,
    WELL,
    InputDataError,
)

logger = logging.getLogger(__name__)


PROTOCOLS = ("NSC", "NSCB")


@dataclass
class FoldPlan:
    """The cells' role in every fold of a LOOCV (or a single train/validation split).

    Attributes:
        roles: ``int8`` array (n_cells, n_folds) of ``schema.ROLE_*`` codes (UNUSED=0, TRAIN=1,
            VALID=2, TEST=3).
        compounds: Held-out compound of each fold (n_folds; ``""`` where nothing is held out).
        repetitions: Repetition index of each fold (n_folds,).
        moas: MOA of each fold's held-out compound (n_folds; ``""`` where nothing is held out).
        groups: Validation group code of each cell (n_cells,): cells of one group are never
            split between TRAIN and VALID.
        untrainable_folds: Indices (positions in this plan) of folds whose held-out MOA has no
            TRAIN cell (possible under NSCB); their test treatments cannot be classified correctly.
        protocol: ``"NSC"`` (hold out the compound) or ``"NSCB"`` (also its batches).
        held_out_batches: Batches of each fold's held-out compound (n_folds tuples; empty when
            the cells carry no batch column).
        fold_ids: Number of each fold in the full plan it was selected from (n_folds,): a fold
            keeps its number, hence its seeds, in any block of repetitions.
    """

    roles: np.ndarray
    compounds: list[str]
    repetitions: np.ndarray
    moas: list[str]
    groups: np.ndarray
    untrainable_folds: np.ndarray
    protocol: str = "NSC"
    held_out_batches: list[tuple[str, ...]] = field(default_factory=list)
    fold_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.fold_ids is None:
            self.fold_ids = np.arange(self.roles.shape[1], dtype=np.int64)
        if not self.held_out_batches:
            self.held_out_batches = [()] * self.roles.shape[1]
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}.")

    @property
    def n_folds(self) -> int:
        return self.roles.shape[1]

    def summary(self) -> pd.DataFrame:
        """One row per fold: ``fold``, ``repetition``, ``compound``, ``moa``, cell counts
        ``n_train``, ``n_valid``, ``n_test``, ``n_unused``, group counts ``n_train_groups``,
        ``n_valid_groups``, ``trainable`` (the held-out MOA has TRAIN cells) and ``batches``."""
        rows = []
        untrainable = set(self.untrainable_folds.tolist())
        for position in range(self.n_folds):
            role = self.roles[:, position]
            rows.append(
                {
                    "fold": int(self.fold_ids[position]),
                    "repetition": int(self.repetitions[position]),
                    "compound": self.compounds[position],
                    "moa": self.moas[position],
                    "n_train": int((role == ROLE_TRAIN).sum()),
                    "n_valid": int((role == ROLE_VALID).sum()),
                    "n_test": int((role == ROLE_TEST).sum()),
                    "n_unused": int((role == ROLE_UNUSED).sum()),
                    "n_train_groups": len(np.unique(self.groups[role == ROLE_TRAIN])),
                    "n_valid_groups": len(np.unique(self.groups[role == ROLE_VALID])),
                    "trainable": position not in untrainable,
                    "batches": " ".join(self.held_out_batches[position]),
                }
            )
        return pd.DataFrame(rows)

    def select(self, positions: Sequence[int]) -> FoldPlan:
        """The plan of the folds at ``positions`` (their ``fold_ids`` kept)."""
        positions = np.asarray(positions, dtype=np.int64)
        untrainable = set(self.untrainable_folds.tolist())
        return replace(
            self,
            roles=self.roles[:, positions],
            compounds=[self.compounds[p] for p in positions],
            repetitions=self.repetitions[positions],
            moas=[self.moas[p] for p in positions],
            untrainable_folds=np.array([i for i, p in enumerate(positions) if p in untrainable],
                                       dtype=np.int64),
            held_out_batches=[self.held_out_batches[p] for p in positions],
            fold_ids=self.fold_ids[positions],
        )

    def repetition_block(self, repetitions: Sequence[int]) -> FoldPlan:
        """The folds of the given repetitions.

        Raises:
            ValueError: A repetition the plan does not have (named).
        """
        missing = sorted(set(repetitions) - set(self.repetitions.tolist()))
        if missing:
            raise ValueError(f"The fold plan has repetitions {sorted(set(self.repetitions.tolist()))}; "
                             f"asked for {missing}.")
        return self.select(np.flatnonzero(np.isin(self.repetitions, list(repetitions))))

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``group`` and one int8 role column per fold (``fold_<id>``); what
        describes the folds travels in ``attrs`` (kept by Parquet). Inverse: ``from_frame``."""
        frame = pd.DataFrame(self.roles, columns=[f"fold_{i}" for i in self.fold_ids])
        frame.insert(0, "group", self.groups.astype(np.int64))
        frame.attrs = {
            "compounds": list(self.compounds),
            "repetitions": [int(r) for r in self.repetitions],
            "moas": list(self.moas),
            "untrainable_folds": [int(f) for f in self.untrainable_folds],
            "protocol": self.protocol,
            "held_out_batches": [list(b) for b in self.held_out_batches],
            "fold_ids": [int(f) for f in self.fold_ids],
        }
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FoldPlan:
        """The plan stored by ``to_frame``.

        Raises:
            InputDataError: The table lacks the fold description (``attrs``) or role columns.
        """
        attrs = frame.attrs
        missing = [k for k in ("compounds", "repetitions", "moas", "fold_ids") if k not in attrs]
        columns = [f"fold_{i}" for i in attrs.get("fold_ids", [])]
        if missing or [c for c in columns if c not in frame.columns] or "group" not in frame.columns:
            raise InputDataError(
                "The fold plan table lacks its fold description (attrs "
                f"{missing or 'fine'}) or role columns; it was not written by FoldPlan.to_frame. "
                "Rerun the pipeline that makes it (kedro run --pipelines=psets).")
        return cls(
            roles=frame[columns].to_numpy(dtype=np.int8),
            compounds=list(attrs["compounds"]),
            repetitions=np.asarray(attrs["repetitions"], dtype=np.int64),
            moas=list(attrs["moas"]),
            groups=frame["group"].to_numpy(dtype=np.int64),
            untrainable_folds=np.asarray(attrs.get("untrainable_folds", []), dtype=np.int64),
            protocol=attrs.get("protocol", "NSC"),
            held_out_batches=[tuple(b) for b in attrs.get("held_out_batches", [])],
            fold_ids=np.asarray(attrs["fold_ids"], dtype=np.int64),
        )


def _check_cells(cells: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in cells.columns]
    if missing:
        raise InputDataError(f"Problem table lacks the column(s) {missing} needed for the fold plan.")
    if len(cells) == 0:
        raise InputDataError("Problem table has no rows: nothing to split into folds.")
    if (cells[MOA].astype(str) == CONTROL_MOA).any():
        raise InputDataError(
            f"Problem table contains control cells ({MOA} == {CONTROL_MOA!r}); "
            "controls belong to no class and cannot be held out."
        )


def _group_codes(cells: pd.DataFrame, group_by: str | Sequence[str] | None) -> np.ndarray:
    """Integer group of each cell (numbered by first appearance); ``WELL`` means plate + well,
    ``None`` one group per row."""
    if group_by is None:
        return np.arange(len(cells))
    columns = [group_by] if isinstance(group_by, str) else list(group_by)
    if WELL in columns and PLATE not in columns:
        columns.insert(columns.index(WELL), PLATE)
    _check_cells(cells, columns)
    return cells.groupby(columns, sort=False, observed=True, dropna=False).ngroup().to_numpy()


def _split_fold(
    eligible: np.ndarray,
    groups: np.ndarray,
    group_moas: np.ndarray,
    validation_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Roles (n_cells,) TRAIN/VALID for the ``eligible`` cells, UNUSED elsewhere.

    Per MOA, ``round(validation_fraction × n_groups)`` of its eligible groups go to VALID, at
    least one when the MOA has two or more groups and ``validation_fraction > 0``, and never all
    of them (one group stays in TRAIN).
    """
    role = np.full(len(groups), ROLE_UNUSED, dtype=np.int8)
    fold_groups = np.unique(groups[eligible])
    valid = []
    for moa in np.unique(group_moas[fold_groups]):
        candidates = fold_groups[group_moas[fold_groups] == moa]
        n_valid = int(round(validation_fraction * len(candidates)))
        if validation_fraction > 0 and len(candidates) >= 2:
            n_valid = min(max(n_valid, 1), len(candidates) - 1)
        else:
            n_valid = 0
        valid.append(rng.permutation(candidates)[:n_valid])
    is_valid = np.isin(groups, np.concatenate(valid)) if valid else np.zeros(len(groups), bool)
    role[eligible & is_valid] = ROLE_VALID
    role[eligible & ~is_valid] = ROLE_TRAIN
    return role


def _group_moas(cells: pd.DataFrame, groups: np.ndarray) -> np.ndarray:
    """MOA of each group (its first cell's), indexed by group code."""
    first = pd.Series(cells[MOA].astype(str).to_numpy()).groupby(groups, sort=True).first()
    return first.to_numpy()


def leave_one_compound_out(
    cells: pd.DataFrame,
    *,
    n_repetitions: int = 1,
    validation_fraction: float = 0.2,
    group_by: str | Sequence[str] | None = WELL,
    hold_out_batch: bool = False,
    seed: int = 0,
) -> FoldPlan:
    """Leave-one-compound-out folds, one per (repetition, compound), as in the paper.

    Fold ``f = repetition × n_compounds + i`` holds out every cell of compound ``i`` (sorted by
    name; all its concentrations) as TEST. The other cells are split into TRAIN and VALID by whole
    groups (``group_by``; default wells = plate + well, since cells of one well are strongly
    correlated and must not serve both to fit and to stop early). The split is stratified by MOA:
    about ``validation_fraction`` of each MOA's groups go to VALID (at least one where the MOA
    has two or more groups, never all), drawn by ``numpy.random.default_rng([seed, repetition,
    i])`` — repetitions differ, reruns are identical.

    With ``hold_out_batch`` (the NSCB protocol of Ljosa et al. 2013) the cells sharing a batch
    (week) with the held-out compound are UNUSED too. A fold whose MOA is then absent from TRAIN
    is kept but listed in ``untrainable_folds`` (and logged), so evaluation can exclude it.

    Args:
        cells: Problem table (n_cells rows, controls excluded) with ``Metadata_Compound``,
            ``Metadata_MOA``, the ``group_by`` columns and, for ``hold_out_batch``,
            ``Metadata_Batch``. Well-level profile tables work too (each well its own group).
        n_repetitions: Number of repetitions (independent validation draws).
        validation_fraction: Share of each MOA's groups used for validation, in [0, 1).
        group_by: Column(s) whose distinct values form the validation groups; ``Metadata_Well``
            is combined with ``Metadata_Plate``; ``None`` makes each row its own group.
        hold_out_batch: Also exclude the held-out compound's batches from TRAIN and VALID.
        seed: Base seed of the validation draws.

    Returns:
        The fold plan (roles: n_cells × (n_repetitions · n_compounds)).
    """
    if n_repetitions < 1:
        raise ValueError(f"n_repetitions must be at least 1, got {n_repetitions}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}.")
    _check_cells(cells, [COMPOUND, MOA] + ([BATCH] if hold_out_batch else []))
    groups = _group_codes(cells, group_by)
    group_moas = _group_moas(cells, groups)
    compound = cells[COMPOUND].astype(str).to_numpy()
    moa = cells[MOA].astype(str).to_numpy()
    batch = cells[BATCH].astype(str).to_numpy() if BATCH in cells.columns else None
    compounds = sorted(set(compound))
    batches_of = {c: tuple(sorted(set(batch[compound == c]))) if batch is not None else ()
                  for c in compounds}

    roles = np.empty((len(cells), n_repetitions * len(compounds)), dtype=np.int8)
    fold_moas, untrainable = [], []
    for repetition in range(n_repetitions):
        for i, held_out in enumerate(compounds):
            fold = repetition * len(compounds) + i
            test = compound == held_out
            eligible = ~test
            if hold_out_batch:
                eligible &= ~np.isin(batch, np.unique(batch[test]))
            rng = np.random.default_rng([seed, repetition, i])
            roles[:, fold] = _split_fold(eligible, groups, group_moas, validation_fraction, rng)
            roles[test, fold] = ROLE_TEST
            held_out_moa = moa[test][0]
            fold_moas.append(held_out_moa)
            if not np.any((roles[:, fold] == ROLE_TRAIN) & (moa == held_out_moa)):
                untrainable.append(fold)

    if untrainable:
        names = sorted({compounds[f % len(compounds)] for f in untrainable})
        logger.warning(
            "%d of %d folds have no training cell of their held-out MOA (compounds: %s); "
            "their treatments cannot be classified correctly.",
            len(untrainable), roles.shape[1], ", ".join(names),
        )
    return FoldPlan(
        roles=roles,
        compounds=compounds * n_repetitions,
        repetitions=np.repeat(np.arange(n_repetitions), len(compounds)),
        moas=fold_moas,
        groups=groups,
        untrainable_folds=np.asarray(untrainable, dtype=np.int64),
        protocol="NSCB" if hold_out_batch else "NSC",
        held_out_batches=[batches_of[c] for c in compounds] * n_repetitions,
    )


def train_valid_split(
    cells: pd.DataFrame,
    *,
    validation_fraction: float = 0.2,
    group_by: str | Sequence[str] | None = WELL,
    seed: int = 0,
    excluded: np.ndarray | None = None,
) -> FoldPlan:
    """Folds with no test cells: TRAIN and VALID (by whole groups, stratified by MOA, as in
    ``leave_one_compound_out``) over the problem — for training source models.

    Args:
        excluded: Optional (n_cells, J) bool: column j's True cells are UNUSED in fold j (e.g. a
            compound and its batches). Default: one fold over every cell. Every fold draws its
            validation wells with ``numpy.random.default_rng([seed])``.

    Returns:
        A fold plan with roles (n_cells, J), compounds ``""`` and repetition 0.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}.")
    _check_cells(cells, [MOA])
    excluded = np.zeros((len(cells), 1), bool) if excluded is None else np.asarray(excluded, bool)
    if excluded.ndim != 2 or len(excluded) != len(cells):
        raise ValueError(f"excluded must be (n_cells={len(cells)}, folds), got {excluded.shape}.")
    groups = _group_codes(cells, group_by)
    group_moas = _group_moas(cells, groups)
    roles = np.stack([_split_fold(~column, groups, group_moas, validation_fraction,
                                  np.random.default_rng([seed])) for column in excluded.T], axis=1)
    n_folds = roles.shape[1]
    return FoldPlan(
        roles=roles,
        compounds=[""] * n_folds,
        repetitions=np.zeros(n_folds, dtype=np.int64),
        moas=[""] * n_folds,
        groups=groups,
        untrainable_folds=np.zeros(0, dtype=np.int64),
    )


@dataclass
class NestedPlan:
    """Outer folds and, for each, inner folds on its own training compounds only — one plan.

    Attributes:
        plan: Every fold, outer and inner (roles: n_cells × (n_outer · (1 + n_inner))). An inner
            fold's TEST cells are TRAIN/VALID cells of its outer fold (compounds the outer fold
            trains on); its TRAIN/VALID are the rest of them, less (under NSCB) every batch of
            its test compounds. Nothing of the outer fold's held-out compound is in any role.
        parent: (n_folds,) position of each fold's outer fold in ``plan`` (its own for outer folds).
        inner: (n_folds,) inner index (0 for outer folds, 1..n_inner for inner ones).
    """

    plan: FoldPlan
    parent: np.ndarray
    inner: np.ndarray

    @property
    def outer(self) -> np.ndarray:
        """Positions of the outer folds in ``plan``."""
        return np.flatnonzero(self.inner == 0)


def with_inner_folds(plan: FoldPlan, cells: pd.DataFrame, *, n_inner: int,
                     validation_fraction: float = 0.2, seed: int = 0) -> NestedPlan:
    """Adds ``n_inner`` inner folds to every fold of ``plan`` (nested selection).

    The outer fold's training compounds (those with TRAIN or VALID cells) are dealt to the inner
    folds MOA by MOA in a seeded order (``default_rng([seed, fold_id, 1])``), so each inner fold
    holds out a share of every MOA's compounds. Inner validation wells are drawn as in
    ``leave_one_compound_out`` from ``default_rng([seed, fold_id, 2, i])``. An inner fold left
    without TRAIN or VALID cells (NSCB, once its test compounds' batches are removed) is dropped;
    an outer fold may then have fewer inner folds, or none (its candidates cannot be judged).

    Args:
        plan: Outer folds (any protocol; NSCB inner folds also drop their test batches).
        cells: The cells the plan was made on.
        n_inner: Inner folds per outer fold (>= 2).

    Returns:
        The nested plan (outer folds first, each followed by its inner folds).
    """
    if n_inner < 2:
        raise ValueError(f"n_inner must be at least 2, got {n_inner}.")
    _check_cells(cells, [COMPOUND, MOA] + ([BATCH] if plan.protocol == "NSCB" else []))
    compound = cells[COMPOUND].astype(str).to_numpy()
    moa = cells[MOA].astype(str).to_numpy()
    batch = cells[BATCH].astype(str).to_numpy() if plan.protocol == "NSCB" else None
    group_moas = _group_moas(cells, plan.groups)
    columns, compounds, repetitions, moas, batches, ids, parents, inner = [], [], [], [], [], [], [], []
    for position in range(plan.n_folds):
        role = plan.roles[:, position]
        fit = (role == ROLE_TRAIN) | (role == ROLE_VALID)
        fold_id = int(plan.fold_ids[position])
        parent = len(columns)
        columns.append(role)
        compounds.append(plan.compounds[position])
        repetitions.append(plan.repetitions[position])
        moas.append(plan.moas[position])
        batches.append(plan.held_out_batches[position])
        ids.append(fold_id)
        parents.append(parent)
        inner.append(0)
        rng = np.random.default_rng([seed, fold_id, 1])
        dealt: list[list[str]] = [[] for _ in range(n_inner)]
        turn = 0
        training = pd.Series(compound[fit]).groupby(moa[fit]).unique()
        for members in training:
            for name in rng.permutation(sorted(members)):
                dealt[turn % n_inner].append(str(name))
                turn += 1
        for i, held_out in enumerate(dealt, start=1):
            test = fit & np.isin(compound, held_out)
            eligible = fit & ~test
            if batch is not None:
                eligible &= ~np.isin(batch, np.unique(batch[test]))
            column = _split_fold(eligible, plan.groups, group_moas, validation_fraction,
                                 np.random.default_rng([seed, fold_id, 2, i]))
            if not ((column == ROLE_TRAIN).any() and (column == ROLE_VALID).any()):
                continue  # NSCB can leave an inner fold nothing to train on: it cannot judge
            column[test] = ROLE_TEST
            columns.append(column)
            compounds.append("+".join(sorted(held_out)))
            repetitions.append(plan.repetitions[position])
            moas.append("")
            batches.append(tuple(sorted(set(batch[test]))) if batch is not None else ())
            ids.append(fold_id)
            parents.append(parent)
            inner.append(i)
    roles = np.stack(columns, axis=1).astype(np.int8)
    outer_columns = [k for k in range(len(columns)) if inner[k] == 0]
    untrainable = [outer_columns[int(p)] for p in plan.untrainable_folds]
    nested = FoldPlan(roles=roles, compounds=compounds, repetitions=np.asarray(repetitions),
                      moas=moas, groups=plan.groups,
                      untrainable_folds=np.asarray(untrainable, dtype=np.int64),
                      protocol=plan.protocol, held_out_batches=batches,
                      fold_ids=np.asarray(ids, dtype=np.int64))
    return NestedPlan(nested, np.asarray(parents, dtype=np.int64), np.asarray(inner, dtype=np.int64))
