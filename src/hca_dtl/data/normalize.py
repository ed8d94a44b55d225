"""Per-plate normalisation of features against the plate's DMSO control cells.

- ``"robust_z"``: ``(x − median_ctrl) / (1.4826 · MAD_ctrl)`` (pycytominer's "mad_robustize");
- ``"standardize"``: ``(x − mean_ctrl) / sd_ctrl``;
- ``"robust_z_pooled"``: centred on the plate's control median, then divided by one scale per
  feature for the whole table: 1.4826 · MAD of all plate-centred control rows. For well-level
  profiles, where a plate holds a handful of control wells (BBBC021: 6), whose MAD is too noisy
  to scale by: after per-plate ``robust_z`` the SD of the real BBBC021 DMSO well profiles is
  2.3 (median over features; 37 at the 99th percentile) instead of about 1;
- ``"none"``: unchanged.

``whiten_on_controls`` then optionally decorrelates the features (ZCA whitening fitted on the
control rows of all plates; Ando et al. 2017's "typical variation normalisation", pycytominer's
"spherize"): directions along which DMSO wells vary — plate, week and imaging drift — are shrunk
to unit variance, so 1-nearest-neighbour and the networks see treatment effects rather than the
few high-variance nuisance directions (the largest DMSO eigenvalue of the BBBC021 well profiles
is 36× the next).

Statistics come from control cells only — the centre from the same plate's — so no label
information enters and the step may run before the LOOCV split. A scale below ``EPSILON`` (a
feature constant within the controls) is floored at ``EPSILON`` so nothing divides by zero; such
features then carry only the centred value.

Why ~30 lines of numpy/pandas rather than ``pycytominer.normalize``: pycytominer is not installed
here and pulls in sqlalchemy, clevercsv and fire; it also works on float64 copies of the whole
table, whereas this works plate by plate in place on the float32 cells table.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from hca_dtl.data.schema import CONTROL_MOA, MOA, PLATE, InputDataError

logger = logging.getLogger(__name__)

METHODS = ("none", "robust_z", "standardize", "robust_z_pooled")
WHITENING = ("none", "zca_controls")
EPSILON = 1e-6
MAD_TO_SD = 1.4826  # 1 / Φ⁻¹(3/4): MAD of a normal sample × 1.4826 ≈ its SD


def _centre_scale(controls: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature centre and scale (floored at ``EPSILON``) of (n_controls, n_features) values."""
    if method in ("robust_z", "robust_z_pooled"):
        centre = np.median(controls, axis=0)
        scale = MAD_TO_SD * np.median(np.abs(controls - centre), axis=0)
    else:
        centre = controls.mean(axis=0)
        scale = controls.std(axis=0, ddof=1) if len(controls) > 1 else np.zeros(controls.shape[1])
    return centre, np.maximum(scale, EPSILON)


def normalize_per_plate(cells: pd.DataFrame, features: list[str], method: str) -> pd.DataFrame:
    """Normalises ``features`` of ``cells`` plate by plate against the plate's DMSO cells.

    Args:
        cells: cells table (rows: cells or wells) with ``Metadata_Plate``, ``Metadata_MOA``.
        features: feature columns (float) to normalise; others are left untouched.
        method: one of ``METHODS``.

    Returns:
        ``cells`` with normalised features (same object, modified in place; dtype kept).

    Raises:
        InputDataError: a plate has no DMSO control cells.
        ValueError: unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"normalization must be one of {METHODS}, got {method!r}.")
    if method == "none" or cells.empty:
        return cells
    pooled = method == "robust_z_pooled"  # centre per plate, then one scale for all plates
    plates = cells[PLATE].to_numpy()
    control = (cells[MOA] == CONTROL_MOA).to_numpy()
    values = cells[features].to_numpy(copy=True)
    for plate in pd.unique(plates):
        rows = plates == plate
        controls = values[rows & control].astype(np.float64)
        if len(controls) == 0:
            raise InputDataError(f"Plate {plate!r} has no DMSO control cells to normalise against.")
        centre, scale = _centre_scale(controls, method)
        values[rows] = ((values[rows] - centre) / (1.0 if pooled else scale)).astype(values.dtype)
    if pooled:
        _, scale = _centre_scale(values[control].astype(np.float64), method)
        values = (values / scale).astype(values.dtype)
    cells[features] = values
    logger.info("Normalised %d features on %d plates (%s against DMSO).", len(features), len(pd.unique(plates)), method)
    return cells


def whiten_on_controls(cells: pd.DataFrame, features: list[str], epsilon: float) -> pd.DataFrame:
    """ZCA-whitens ``features`` with the covariance of the DMSO control rows of all plates.

    ``x ↦ (x − μ) U diag((λ + ε)^-½) Uᵀ`` with ``μ`` the control mean and ``λ, U`` the eigenvalues
    and eigenvectors of the control covariance (n_features × n_features). ``epsilon`` (in squared
    feature units; 1 after a robust z-score) caps the gain of low-variance directions at ``ε^-½``:
    with fewer control rows than features the covariance is singular. ZCA (not PCA) whitening keeps
    each column closest to its input feature, so feature names stay meaningful.

    Args:
        cells: cells table (rows: cells or wells) with ``Metadata_MOA``.
        features: feature columns (float) to whiten.
        epsilon: ridge added to the eigenvalues, > 0.

    Returns:
        ``cells`` with whitened features (same object, modified in place; dtype kept).

    Raises:
        InputDataError: fewer than 2 DMSO control rows.
        ValueError: ``epsilon`` <= 0.
    """
    if epsilon <= 0:
        raise ValueError(f"whitening epsilon must be > 0, got {epsilon}.")
    control = (cells[MOA] == CONTROL_MOA).to_numpy()
    if control.sum() < 2:
        raise InputDataError(f"Whitening needs at least 2 DMSO control rows, found {int(control.sum())}.")
    controls = cells.loc[control, features].to_numpy(np.float64)
    mean = controls.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(controls - mean, rowvar=False))
    gain = 1.0 / np.sqrt(np.maximum(eigenvalues, 0.0) + epsilon)
    transform = (eigenvectors * gain) @ eigenvectors.T
    values = cells[features].to_numpy()
    cells[features] = ((values - mean) @ transform).astype(values.dtype)
    logger.info("Whitened %d features on %d DMSO rows (ZCA, epsilon %g; largest control eigenvalue %.3g).",
                len(features), int(control.sum()), epsilon, eigenvalues[-1])
    return cells
