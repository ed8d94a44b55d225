"""Leave-one-compound-out (LOOCV) fold plans: which cells train, validate and test each fold.

The paper holds out all cells of one compound (every concentration) per fold and splits the
remaining cells into a training set and a validation set for early stopping. We split by whole
groups — wells (plate + well) by default — because the cells of one well are strongly correlated:
a validation set of cells drawn from training wells would make early stopping optimistic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

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
        untrainable_folds: Indices of folds whose held-out MOA has no TRAIN cell (possible with
            ``hold_out_batch``); their test treatments cannot be classified correctly.
    """

    roles: np.ndarray
    compounds: list[str]
    repetitions: np.ndarray
    moas: list[str]
    groups: np.ndarray
    untrainable_folds: np.ndarray

    @property
    def n_folds(self) -> int:
        return self.roles.shape[1]

    def summary(self) -> pd.DataFrame:
        """One row per fold: ``fold``, ``repetition``, ``compound``, ``moa``, cell counts
        ``n_train``, ``n_valid``, ``n_test``, ``n_unused``, group counts ``n_train_groups``,
        ``n_valid_groups`` and ``trainable`` (the held-out MOA has TRAIN cells)."""
        rows = []
        for fold in range(self.n_folds):
            role = self.roles[:, fold]
            rows.append(
                {
                    "fold": fold,
                    "repetition": int(self.repetitions[fold]),
                    "compound": self.compounds[fold],
                    "moa": self.moas[fold],
                    "n_train": int((role == ROLE_TRAIN).sum()),
                    "n_valid": int((role == ROLE_VALID).sum()),
                    "n_test": int((role == ROLE_TEST).sum()),
                    "n_unused": int((role == ROLE_UNUSED).sum()),
                    "n_train_groups": len(np.unique(self.groups[role == ROLE_TRAIN])),
                    "n_valid_groups": len(np.unique(self.groups[role == ROLE_VALID])),
                    "trainable": fold not in set(self.untrainable_folds.tolist()),
                }
            )
        return pd.DataFrame(rows)


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
    batch = cells[BATCH].astype(str).to_numpy() if hold_out_batch else None
    compounds = sorted(set(compound))

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
    )


def train_valid_split(
    cells: pd.DataFrame,
    *,
    validation_fraction: float = 0.2,
    group_by: str | Sequence[str] | None = WELL,
    seed: int = 0,
) -> FoldPlan:
    """A single fold with no test cells: TRAIN and VALID (by whole groups, stratified by MOA,
    as in ``leave_one_compound_out``) over the whole problem — for training a source model.

    Returns:
        A fold plan with roles (n_cells, 1), compound ``""`` and repetition 0.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}.")
    _check_cells(cells, [MOA])
    groups = _group_codes(cells, group_by)
    rng = np.random.default_rng([seed])
    everyone = np.ones(len(cells), dtype=bool)
    role = _split_fold(everyone, groups, _group_moas(cells, groups), validation_fraction, rng)
    return FoldPlan(
        roles=role[:, None],
        compounds=[""],
        repetitions=np.zeros(1, dtype=np.int64),
        moas=[""],
        groups=groups,
        untrainable_folds=np.zeros(0, dtype=np.int64),
    )
