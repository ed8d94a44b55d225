"""Feature curation: which CellProfiler columns are morphological features, and NaN handling.

The default recipe (``CurationConfig``) keeps the compartment-prefixed columns (``Cells_``,
``Cytoplasm_``, ``Nuclei_``) except those whose name contains one of ``drop_patterns``:

- positions, not morphology: ``Location``, ``Center`` (``*_Location_Center_X``,
  ``*_AreaShape_Center_X``), ``BoundingBoxMinimum``, ``BoundingBoxMaximum`` (the box's corners in
  the image; ``BoundingBoxArea``, a size, stays);
- bookkeeping: ``Number_Object_Number``, ``ObjectNumber`` (also neighbours'
  ``FirstClosestObjectNumber``), ``Parent``, ``Children`` (links and child counts), ``Metadata``,
  ``ExecutionTime``, ``FileName``, ``PathName``, ``URL``, ``ModuleError``;
- ``EulerNumber``: the number of holes of an object's mask, a segmentation artefact that is 1 for
  nearly every cell (it carries almost no information and is dropped);

then drops constant columns and columns whose NaN share exceeds ``max_nan_fraction``, decided on the
rows given (ingestion gives the control rows, so that no treated cell changes the feature list).
``keep`` forces columns in, ``drop`` forces them out. On the synthetic data this
leaves 453 features, the number of the paper.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.schema import InputDataError, feature_columns

logger = logging.getLogger(__name__)

DEFAULT_DROP_PATTERNS = (
    "Location", "Center", "BoundingBoxMinimum", "BoundingBoxMaximum", "Number_Object_Number", "ObjectNumber", "Parent", "Children", "Metadata",
    "ExecutionTime", "FileName", "PathName", "URL", "ModuleError", "EulerNumber",
)
NAN_POLICIES = ("drop", "impute_median")
MIN_SAMPLE_ROWS = 1000  # below this, a rarely varying column can look constant: warn


@dataclass(frozen=True)
class CurationConfig:
    """The feature-selection recipe (see the module docstring)."""

    drop_patterns: tuple[str, ...] = DEFAULT_DROP_PATTERNS
    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    drop_constant: bool = True
    max_nan_fraction: float = 0.05

    def __post_init__(self) -> None:
        for name in ("drop_patterns", "drop", "keep"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"CurationConfig.{name} must be a list of names, got the string {value!r}.")
            object.__setattr__(self, name, tuple(value))
        if not 0.0 <= self.max_nan_fraction <= 1.0:
            raise ValueError(f"CurationConfig.max_nan_fraction must be in [0, 1], got {self.max_nan_fraction}.")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> CurationConfig:
        """Builds the recipe from a (Kedro parameters) mapping; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, params)


def candidate_features(columns: Sequence[str], config: CurationConfig) -> list[str]:
    """Compartment-prefixed columns that pass the name rules (patterns, ``drop``, ``keep``)."""
    return [
        c for c in feature_columns(columns)
        if c in config.keep or (c not in config.drop and not any(p in c for p in config.drop_patterns))
    ]


def select_features(
    columns: Sequence[str], sample: pd.DataFrame, config: CurationConfig, *, source: str = "export"
) -> list[str]:
    """The curated feature list, in the order of ``columns``.

    Args:
        columns: all column names of the export.
        sample: rows (cells) holding at least the candidate columns; the constant and NaN rules are
            decided on it. Give all cells, or at least ``MIN_SAMPLE_ROWS`` (1000) cells from
            across plates: with fewer, a rarely varying column can look constant.
        config: the recipe.
        source: the file named in error messages.

    Raises:
        InputDataError: a candidate column is missing from the sample or is not numeric.
    """
    candidates = candidate_features(columns, config)
    missing = [c for c in candidates if c not in sample.columns]
    if missing:
        raise InputDataError(f"'{source}': the curation sample lacks the column(s) {missing[:5]}.")
    for column in candidates:
        if not pd.api.types.is_numeric_dtype(sample[column]) and not sample[column].isna().all():
            value = sample[column].dropna().iloc[0]
            raise InputDataError(f"'{source}': feature column {column!r} is not numeric (e.g. {value!r}).")
    if len(sample) < MIN_SAMPLE_ROWS:
        logger.warning("Curating on only %d rows (< %d): constant-column decisions may be unstable.",
                       len(sample), MIN_SAMPLE_ROWS)
    values = sample[candidates]
    nan_share = values.isna().mean()
    kept = [c for c in candidates if c in config.keep or nan_share[c] <= config.max_nan_fraction]
    if config.drop_constant:
        spread = values[kept].max() - values[kept].min()
        kept = [c for c in kept if c in config.keep or (np.isfinite(spread[c]) and spread[c] > 0)]
    logger.info(
        "Curation kept %d of %d compartment columns (%d candidates by name; the paper used 453).",
        len(kept), len(feature_columns(columns)), len(candidates),
    )
    return kept


def apply_nan_policy(
    features: np.ndarray, policy: str, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Handles cells with NaN or infinite features.

    Args:
        features: cells × features.
        policy: ``"drop"`` (remove such cells) or ``"impute_median"`` (replace each bad value by the
            feature's median over ``reference``, its finite values only).
        reference: cells × features used for the medians (ingestion passes the DMSO control cells,
            or all cells when there are none; no label information either way).

    Returns:
        ``(features, keep)``: the handled matrix and the boolean mask (over the input rows) of the
        cells kept.
    """
    if policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {policy!r}.")
    bad = ~np.isfinite(features)
    rows_bad = bad.any(axis=1)
    if policy == "drop":
        return features[~rows_bad], ~rows_bad
    reference = features if reference is None else reference
    finite = np.where(np.isfinite(reference), reference, np.nan)
    medians = np.nanmedian(finite, axis=0) if len(finite) else np.full(features.shape[1], np.nan)
    medians = np.where(np.isfinite(medians), medians, 0.0)
    out = features.copy()
    out[bad] = np.broadcast_to(medians, features.shape)[bad]
    return out, np.ones(len(features), dtype=bool)
