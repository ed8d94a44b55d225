"""Normalisation as a fitted, label-free transform: statistics from the DMSO control rows only.

A ``NormalizationSpec`` says what to do; ``fit_normalizer`` fits it on the control rows
(``Metadata_MOA == "DMSO"``) of a cells table and returns a ``Normalizer`` (the statistics), whose
``transform`` applies it to any rows of the same plates — a problem's cells, a fold's cells.
Methods (per plate, against the plate's control rows):

- ``"robust_z"``: ``(x − median_ctrl) / (1.4826 · MAD_ctrl)`` (pycytominer's "mad_robustize");
- ``"standardize"``: ``(x − mean_ctrl) / sd_ctrl``;
- ``"robust_z_pooled"``: centred on the plate's control median, then divided by one scale per
  feature for the whole table: 1.4826 · MAD of all plate-centred control rows. For well-level
  profiles, where a plate holds a handful of control wells (BBBC021: 6), whose MAD is too noisy
  to scale by: after per-plate ``robust_z`` the SD of the real BBBC021 DMSO well profiles is
  2.3 (median over features; 37 at the 99th percentile) instead of about 1;
- ``"none"``: unchanged.

Whitening ``"zca_controls"`` then optionally decorrelates the features (ZCA whitening fitted on
the normalised control rows of all plates; Ando et al. 2017's "typical variation normalisation",
pycytominer's "spherize"): directions along which DMSO wells vary — plate, week and imaging drift
— are shrunk to unit variance (the largest DMSO eigenvalue of the BBBC021 well profiles is 36×
the next). ``x ↦ (x − μ) U diag((λ + ε)^-½) Uᵀ``; the ridge ``ε`` (squared feature units; 1 after
a robust z-score) caps the gain of low-variance directions at ``ε^-½``: with fewer control rows
than features the covariance is singular. ZCA (not PCA) keeps each column closest to its input
feature, so feature names stay meaningful.

No statistic comes from a treated row, so a held-out compound cannot reach them. A scale below
``EPSILON`` (a feature constant within the controls) is floored at ``EPSILON``.

New data (``predict``): ``Normalizer.recentred`` takes each new plate's centre from its own
controls and keeps the training scale and whitening; ``Normalizer.refitted`` refits everything.

Why ~150 lines of numpy rather than ``pycytominer.normalize``: pycytominer is not installed here
(it pulls in sqlalchemy, clevercsv and fire) and has no fitted, serialisable transform to apply
later to other rows; per-plate normalisation against controls is not built in (pycytominer#154).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.schema import BATCH, CONTROL_MOA, MOA, PLATE, InputDataError

logger = logging.getLogger(__name__)

METHODS = ("none", "robust_z", "standardize", "robust_z_pooled")
WHITENING = ("none", "zca_controls")
EPSILON = 1e-6
MAD_TO_SD = 1.4826  # 1 / Φ⁻¹(3/4): MAD of a normal sample × 1.4826 ≈ its SD
_PER_PLATE_SCALE = ("robust_z", "standardize")


@dataclass(frozen=True)
class NormalizationSpec:
    """One normalisation: ``method`` (``METHODS``), ``whitening`` (``WHITENING``) and its ridge."""

    method: str = "none"
    whitening: str = "none"
    whitening_epsilon: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"normalization must be one of {METHODS}, got {self.method!r}.")
        if self.whitening not in WHITENING:
            raise ValueError(f"whitening must be one of {WHITENING}, got {self.whitening!r}.")
        if not isinstance(self.whitening_epsilon, (int, float)) or self.whitening_epsilon <= 0:
            raise ValueError(f"whitening_epsilon must be a number > 0, got {self.whitening_epsilon!r}.")
        object.__setattr__(self, "whitening_epsilon", float(self.whitening_epsilon))

    @property
    def label(self) -> str:
        """E.g. ``"robust_z_pooled+zca(0.1)"``, or ``"robust_z"`` without whitening."""
        return self.method if self.whitening == "none" else f"{self.method}+zca({self.whitening_epsilon:g})"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> NormalizationSpec:
        """From ``{"method", "whitening", "whitening_epsilon"}``; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, params)


def _candidates(params: Mapping[str, Any], key: str, default: Any) -> list[Any]:
    """A setting's candidates: a plain value, or ``{candidates: [...]}`` in the listed order."""
    value = params.get(key, default)
    if not isinstance(value, Mapping):
        return [value]
    if set(value) != {"candidates"} or isinstance(value["candidates"], (str, Mapping)) or not value["candidates"]:
        raise ValueError(f"ingestion.{key} must be a value or {{candidates: [v1, v2, ...]}}, got {dict(value)!r}.")
    return list(value["candidates"])


def normalization_specs(params: Mapping[str, Any]) -> list[NormalizationSpec]:
    """The candidate normalisations of ``params:ingestion``, first = the default and the simplest.

    Each of ``normalization``, ``whitening`` and ``whitening_epsilon`` is a value or
    ``{candidates: [...]}``; the result is their Cartesian product in the listed order (methods
    outermost), without the duplicates that epsilons would make when whitening is ``none``.
    """
    specs: dict[str, NormalizationSpec] = {}
    for method, whitening, epsilon in product(_candidates(params, "normalization", "none"),
                                              _candidates(params, "whitening", "none"),
                                              _candidates(params, "whitening_epsilon", 1.0)):
        spec = NormalizationSpec(method, whitening, epsilon)
        specs.setdefault(spec.label, spec)
    return list(specs.values())


def _centre_scale(controls: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature centre and scale (floored at ``EPSILON``) of (n_controls, n_features) values."""
    if method in ("robust_z", "robust_z_pooled"):
        centre = np.median(controls, axis=0)
        scale = MAD_TO_SD * np.median(np.abs(controls - centre), axis=0)
    else:
        centre = controls.mean(axis=0)
        scale = controls.std(axis=0, ddof=1) if len(controls) > 1 else np.zeros(controls.shape[1])
    return centre, np.maximum(scale, EPSILON)


def _control_mask(cells: pd.DataFrame, control_mask: np.ndarray | None) -> np.ndarray:
    return (cells[MOA] == CONTROL_MOA).to_numpy() if control_mask is None else np.asarray(control_mask, bool)


def _plate_statistics(cells: pd.DataFrame, features: Sequence[str], method: str, control: np.ndarray
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Centre and scale of each plate of ``cells`` from its control rows (float64, (n_features,))."""
    plates = cells[PLATE].astype(str).to_numpy()
    values = cells.loc[control, list(features)].to_numpy(np.float32)
    control_plates = plates[control]
    centres, scales = {}, {}
    for plate in pd.unique(plates):
        rows = control_plates == plate
        if not rows.any():
            raise InputDataError(f"Plate {plate!r} has no DMSO control rows to normalise against (rows of a control "
                                 "compound: set control_compounds, or drop the plate's rows).")
        centres[plate], scales[plate] = _centre_scale(values[rows].astype(np.float64), method)
    return centres, scales


@dataclass(frozen=True)
class Normalizer:
    """Fitted normalisation statistics (all float64, each ``(n_features,)`` unless stated).

    ``centres``: per plate; ``plate_scales``: per plate (``robust_z``, ``standardize``) or None;
    ``scale``: the pooled scale (``robust_z_pooled``) or None; ``whitening_mean`` and
    ``whitening_matrix`` (n_features × n_features) or None. ``"none"`` has no centres.
    """

    spec: NormalizationSpec
    features: tuple[str, ...]
    centres: Mapping[str, np.ndarray] = field(default_factory=dict)
    plate_scales: Mapping[str, np.ndarray] | None = None
    scale: np.ndarray | None = None
    whitening_mean: np.ndarray | None = None
    whitening_matrix: np.ndarray | None = None

    def _scaled(self, values: np.ndarray, plates: np.ndarray | None) -> np.ndarray:
        """Centred and scaled float32 values (rows × features) of rows on ``plates``."""
        if self.spec.method == "none":
            return values
        unknown = sorted(set(pd.unique(plates)) - set(self.centres))
        if unknown:
            raise InputDataError(
                f"Plate(s) {unknown[:5]} have no {self.spec.label} statistics: the normaliser was fitted on the "
                f"plates {sorted(self.centres)[:5]}{' …' if len(self.centres) > 5 else ''}. Recentre it on "
                "these rows' own controls (Normalizer.recentred) or fit it on a table that holds them."
            )
        out = values.copy()
        for plate in pd.unique(plates):
            rows = plates == plate
            divisor = self.plate_scales[plate] if self.plate_scales is not None else 1.0
            out[rows] = ((values[rows] - self.centres[plate]) / divisor).astype(np.float32)
        if self.scale is not None:
            out = (out / self.scale).astype(np.float32)
        return out

    def _whitened(self, values: np.ndarray) -> np.ndarray:
        if self.whitening_matrix is None:
            return values
        return ((values - self.whitening_mean) @ self.whitening_matrix).astype(np.float32)

    def transform(self, cells: pd.DataFrame) -> pd.DataFrame:
        """A new cells table with the features normalised (float32); other columns untouched.

        Raises:
            InputDataError: a row's plate has no fitted centre, or a feature column is missing.
        """
        missing = [f for f in self.features if f not in cells.columns]
        if missing:
            raise InputDataError(f"The cells table lacks {len(missing)} normalised feature(s), e.g. {missing[:5]}.")
        features = list(self.features)
        values = cells[features].to_numpy(np.float32, copy=True)
        plates = None if self.spec.method == "none" else cells[PLATE].astype(str).to_numpy()
        values = self._whitened(self._scaled(values, plates))
        out = cells.copy()
        out[features] = values
        return out

    def recentred(self, cells: pd.DataFrame, control_mask: np.ndarray | None = None) -> Normalizer:
        """This normaliser with per-plate statistics from ``cells``' own control rows (new plates).

        Each plate's centre comes from its controls; the pooled scale (``robust_z_pooled``) and the
        whitening stay those of training. A per-plate-scale method (``robust_z``, ``standardize``)
        scales each plate by its own controls by definition, so its plate scales are refitted too.

        Args:
            cells: rows of the new plates, controls included.
            control_mask: (n_rows,) bool, the control rows; default ``Metadata_MOA == "DMSO"``.
        """
        if self.spec.method == "none":
            return self
        centres, scales = _plate_statistics(cells, self.features, self.spec.method, _control_mask(cells, control_mask))
        return replace(self, centres=centres,
                       plate_scales=scales if self.spec.method in _PER_PLATE_SCALE else None)

    def refitted(self, cells: pd.DataFrame) -> Normalizer:
        """The same spec with every statistic refitted on ``cells``' control rows."""
        return fit_normalizer(cells, self.features, self.spec)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (lists of floats; ``from_dict`` restores the exact float64 values)."""
        def plain(array):
            return None if array is None else np.asarray(array, np.float64).tolist()

        return {
            "spec": asdict(self.spec),
            "features": list(self.features),
            "centres": {plate: plain(v) for plate, v in self.centres.items()},
            "plate_scales": None if self.plate_scales is None else {p: plain(v) for p, v in self.plate_scales.items()},
            "scale": plain(self.scale),
            "whitening_mean": plain(self.whitening_mean),
            "whitening_matrix": plain(self.whitening_matrix),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalizer:
        """The inverse of ``to_dict``."""
        def array(value):
            return None if value is None else np.asarray(value, np.float64)

        scales = data.get("plate_scales")
        return cls(
            spec=NormalizationSpec.from_dict(data["spec"]),
            features=tuple(data["features"]),
            centres={str(p): array(v) for p, v in data.get("centres", {}).items()},
            plate_scales=None if scales is None else {str(p): array(v) for p, v in scales.items()},
            scale=array(data.get("scale")),
            whitening_mean=array(data.get("whitening_mean")),
            whitening_matrix=array(data.get("whitening_matrix")),
        )


def fit_normalizer(cells: pd.DataFrame, features: Sequence[str], spec: NormalizationSpec) -> Normalizer:
    """Fits ``spec`` on the control rows (``Metadata_MOA == "DMSO"``) of ``cells``.

    Args:
        cells: cells table (rows: cells or wells) with ``Metadata_Plate``, ``Metadata_MOA`` and
            the ``features``; only its control rows are read.
        features: the feature columns to normalise.
        spec: what to fit.

    Raises:
        InputDataError: a plate has no control row (any method but ``"none"``), or whitening has
            fewer than 2 control rows.
    """
    features = tuple(features)
    control = _control_mask(cells, None)
    normalizer = Normalizer(spec, features)
    if spec.method != "none":
        centres, scales = _plate_statistics(cells, features, spec.method, control)
        normalizer = replace(normalizer, centres=centres,
                             plate_scales=scales if spec.method in _PER_PLATE_SCALE else None)
    controls = cells.loc[control]
    plates = None if spec.method == "none" else controls[PLATE].astype(str).to_numpy()
    if spec.method == "robust_z_pooled":
        centred = normalizer._scaled(controls[list(features)].to_numpy(np.float32, copy=True), plates)
        normalizer = replace(normalizer, scale=_centre_scale(centred.astype(np.float64), spec.method)[1])
    if spec.whitening == "zca_controls":
        if len(controls) < 2:
            raise InputDataError(f"Whitening needs at least 2 DMSO control rows, found {len(controls)}.")
        normalised = normalizer._scaled(controls[list(features)].to_numpy(np.float32, copy=True),
                                        plates).astype(np.float64)
        mean = normalised.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(normalised - mean, rowvar=False))
        gain = 1.0 / np.sqrt(np.maximum(eigenvalues, 0.0) + spec.whitening_epsilon)
        normalizer = replace(normalizer, whitening_mean=mean, whitening_matrix=(eigenvectors * gain) @ eigenvectors.T)
        logger.info("ZCA whitening on %d control rows (epsilon %g; largest control eigenvalue %.3g).",
                    len(controls), spec.whitening_epsilon, eigenvalues[-1])
    logger.info("Fitted normalisation %s on %d control rows, %d plates, %d features.", spec.label,
                int(control.sum()), len(normalizer.centres), len(features))
    return normalizer


class FoldNormalizers:
    """The normaliser of each fold, fitted inside its training data.

    Under NSC a fold's normaliser is the one fitted on every control row (``normalizers``, the
    ingestion's): controls carry nothing of a held-out compound. Under NSCB the held-out
    compound's batches must not inform its model either, so the pooled scale and the whitening
    are refitted on the control rows outside those batches; every plate is then centred on its
    own controls (``Normalizer.recentred``), as ``predict`` centres a new plate.

    Args:
        normalizers: Label → fitted ``Normalizer`` (or its ``to_dict``), in candidate order.
        controls: The control rows (all plates) with the features, ``Metadata_Plate`` and
            ``Metadata_Batch``; needed for folds that exclude batches.
    """

    def __init__(self, normalizers: Mapping[str, Any], controls: pd.DataFrame | None = None) -> None:
        if not normalizers:
            raise InputDataError("No normaliser given: rerun the ingestion pipeline.")
        self._fitted = {label: n if isinstance(n, Normalizer) else Normalizer.from_dict(n)
                        for label, n in normalizers.items()}
        self.controls = controls
        self._cache: dict[tuple[str, tuple[str, ...]], Normalizer] = {}

    @classmethod
    def identity(cls, features: Sequence[str]) -> FoldNormalizers:
        """No normalisation (``"none"``): the raw features."""
        spec = NormalizationSpec()
        return cls({spec.label: Normalizer(spec, tuple(features))})

    @property
    def labels(self) -> list[str]:
        return list(self._fitted)

    def get(self, label: str, excluded_batches: Sequence[str] = ()) -> Normalizer:
        """The normaliser ``label`` fitted without the control rows of ``excluded_batches``.

        Raises:
            InputDataError: Batches are excluded but no control rows were given, or none remain.
        """
        key = (label, tuple(sorted(excluded_batches)))
        if key not in self._cache:
            fitted = self._fitted[label]
            if key[1] and (fitted.spec.method != "none" or fitted.spec.whitening != "none"):
                if self.controls is None:
                    raise InputDataError("Excluding batches from a normalisation needs the control rows.")
                kept = ~self.controls[BATCH].astype(str).isin(key[1]).to_numpy()
                if not kept.any():
                    raise InputDataError(f"No control row outside the batches {list(key[1])}: "
                                         f"{label} cannot be fitted without them.")
                fitted = fitted.refitted(self.controls[kept]).recentred(self.controls)
            self._cache[key] = fitted
        return self._cache[key]


def normalize_problem(cells: pd.DataFrame, normalizers: Mapping[str, Mapping[str, Any]]) -> tuple[pd.DataFrame, Normalizer]:
    """Applies the default (first) normaliser of the ``normalizers`` catalog entry to ``cells``.

    Args:
        cells: a problem's (or any) rows on plates the normalisers were fitted on.
        normalizers: label -> ``Normalizer.to_dict()``, in candidate order (ingestion's output).

    Returns:
        ``(normalised cells, the normaliser used)``.
    """
    if not normalizers:
        raise InputDataError("The 'normalizers' catalog entry is empty: rerun the ingestion pipeline.")
    normalizer = Normalizer.from_dict(next(iter(normalizers.values())))
    return normalizer.transform(cells), normalizer
