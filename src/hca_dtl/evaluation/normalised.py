"""Folds whose features are normalised differently, trained as one batched model.

Under NSCB each fold's normaliser is fitted without its held-out batches
(``hca_dtl.data.normalize.FoldNormalizers``), so folds see different feature values. The batched
engine feeds every fold from one resident feature matrix: ``stack_blocks`` puts the normalised
copies of the cells one under another and points each fold's roles at its own block;
``unstack_blocks`` takes each fold's predictions back from its block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from hca_dtl.data.normalize import FoldNormalizers
from hca_dtl.evaluation.loocv import FoldPlan


def fold_normalisation(plan: FoldPlan, parent: np.ndarray | None = None) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Which normaliser each fold needs: the batches it must be fitted without (none under NSC;
    an inner fold takes its outer fold's).

    Returns:
        ``(keys, group)``: the distinct batch tuples, and (n_folds,) the index of each fold's.
    """
    batches = [tuple(b) if plan.protocol == "NSCB" else () for b in plan.held_out_batches]
    if parent is not None:
        batches = [batches[p] for p in parent]
    keys = list(dict.fromkeys(batches))
    return keys, np.array([keys.index(b) for b in batches], dtype=np.int64)


def normalised_blocks(cells: pd.DataFrame, features: Sequence[str], normalizers: FoldNormalizers,
                      label: str, keys: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
    """(n_cells, D) float32 features of ``cells`` under normaliser ``label`` fitted without each
    of ``keys``' batches, one block per key."""
    return [normalizers.get(label, key).transform(cells)[list(features)].to_numpy(dtype=np.float32)
            for key in keys]


def stack_blocks(plan: FoldPlan, blocks: list[np.ndarray], group: np.ndarray,
             y: np.ndarray) -> tuple[np.ndarray, np.ndarray, FoldPlan]:
    """One feature matrix for folds with different normalisations: the blocks one under another
    (G · N rows), fold f's roles in the rows of its block, UNUSED elsewhere."""
    if len(blocks) == 1:
        return blocks[0], y, plan
    n = len(y)
    roles = np.zeros((n * len(blocks), plan.n_folds), dtype=np.int8)
    for f, g in enumerate(group):
        roles[g * n:(g + 1) * n, f] = plan.roles[:, f]
    return (np.concatenate(blocks), np.tile(y, len(blocks)),
            replace(plan, roles=roles, groups=np.tile(plan.groups, len(blocks))))


def unstack_blocks(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """(G · N, F, ...) → (N, F, ...): each fold's rows of its own block."""
    if len(values) == n:
        return values
    return np.stack([values[g * n:(g + 1) * n, f] for f, g in enumerate(group)], axis=1)
