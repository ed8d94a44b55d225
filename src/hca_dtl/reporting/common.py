"""Helpers shared by the tables and figures: the paper's row order and number formatting."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from hca_dtl.evaluation.results import EXPERIMENT_KEYS
from hca_dtl.reporting.paper import PAPER_MASKS

TARGET_ORDER = ("Pset1", "Pset2", "all12")
DASH = "—"


def experiment_rank(approach: str, mask: str, target: str) -> tuple:
    """Sort key giving the paper's order: target Pset1, Pset2, all12, others; within a target BL,
    then DTL_1..DTL_4 (by mask), other masks, then other approaches (baselines) by name."""
    mask = "" if _missing(mask) else str(mask)
    target_rank = TARGET_ORDER.index(target) if target in TARGET_ORDER else len(TARGET_ORDER)
    if approach == "BL" and not mask:
        approach_rank = (0, "")
    elif mask in PAPER_MASKS:
        approach_rank = (1 + PAPER_MASKS.index(mask), "")
    elif mask:
        approach_rank = (1 + len(PAPER_MASKS), mask)
    else:
        approach_rank = (2 + len(PAPER_MASKS), str(approach))
    return (target_rank, str(target), *approach_rank)


def order_experiments(table: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted in the paper's order of (target, approach/mask); other columns keep their order."""
    ranks = [experiment_rank(a, m, t) for a, m, t in
             zip(table["approach"], table["mask"], table["target"])]
    order = sorted(range(len(table)), key=lambda i: ranks[i])
    return table.iloc[order].reset_index(drop=True)


def str_keys(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with the experiment keys as plain strings (``""`` for missing, e.g. after a CSV
    round trip), so that tables from different files match."""
    table = table.copy()
    for key in EXPERIMENT_KEYS:
        table[key] = table[key].astype(object).where(table[key].notna(), "").astype(str)
    return table


def mean_sd(values: Iterable[float], decimals: int = 2) -> str:
    """``"mean (SD)"`` with the sample SD (ddof 1) as the paper prints it, e.g. ``"84.29 (3.21)"``;
    ``"—"`` when there is no value and ``"mean (—)"`` for a single one."""
    values = np.asarray([v for v in values if not _missing(v)], dtype=float)
    if values.size == 0:
        return DASH
    sd = f"{values.std(ddof=1):.{decimals}f}" if values.size > 1 else DASH
    return f"{values.mean():.{decimals}f} ({sd})"


def visible_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a meaningful (non-default) index turned into leading columns, for display."""
    return df if isinstance(df.index, pd.RangeIndex) else df.reset_index()


def format_cell(value: object) -> str:
    """A table cell as text: blanks for missing values, floats to 4 significant digits."""
    if _missing(value):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (
        isinstance(value, (float, np.floating)) and math.isnan(value))
