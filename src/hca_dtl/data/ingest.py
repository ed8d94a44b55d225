"""Ingestion: a CellProfiler export + BBBC021 metadata -> the curated cells table.

``ingest_export`` streams the export a chunk of images at a time, joins every cell with its
image's metadata (plate, well, site, batch, compound, concentration, treatment, MOA), keeps the
candidate feature columns as float32, then curates the features (``curation``), handles NaN
cells and normalises per plate (``normalize``). Cells of treatments absent from the MOA table are
reported (``unannotated_treatments``) and excluded, not an error: BBBC021's image table holds
113 compounds of which 38 are annotated. Without an MOA table (new compounds to predict), every
treatment is kept: control compounds get ``Metadata_MOA`` ``"DMSO"``, the others
``schema.UNKNOWN_MOA``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.curation import (
    NAN_POLICIES, CurationConfig, apply_nan_policy, candidate_features, select_features,
)
from hca_dtl.data.metadata import read_bbbc021_metadata
from hca_dtl.data.normalize import METHODS, WHITENING, normalize_per_plate, whiten_on_controls
from hca_dtl.data.readers import detect_layout, numeric_columns, read_images, read_objects
from hca_dtl.data.schema import (
    BATCH, COMPOUND, CONCENTRATION, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, SITE, TREATMENT, WELL,
    InputDataError, feature_columns,
)

logger = logging.getLogger(__name__)

CATEGORICAL = (PLATE, WELL, BATCH, COMPOUND, TREATMENT, MOA)
_PLATE_COLUMNS = ("Image_Metadata_Plate", "Image_Metadata_Plate_DAPI")
_WELL_COLUMNS = ("Image_Metadata_Well", "Image_Metadata_Well_DAPI")


@dataclass(frozen=True)
class IngestConfig:
    """How to turn an export into a cells table.

    ``nan_policy``: ``"drop"`` or ``"impute_median"`` (medians of the DMSO control cells);
    ``normalization``: ``"none"`` (the paper's choice), ``"robust_z"``, ``"standardize"`` (per plate,
    against DMSO) or ``"robust_z_pooled"`` (centred per plate, one DMSO scale for all plates; for
    well profiles); ``whitening``: ``"none"`` or ``"zca_controls"`` (after normalisation, ZCA
    whitening fitted on the DMSO rows, ridge ``whitening_epsilon``); ``chunk_images``: images
    read at a time; ``float_dtype``: of the features.
    """

    curation: CurationConfig = field(default_factory=CurationConfig)
    nan_policy: str = "drop"
    normalization: str = "none"
    whitening: str = "none"
    whitening_epsilon: float = 1.0
    chunk_images: int = 250
    float_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"IngestConfig.nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}.")
        if self.normalization not in METHODS:
            raise ValueError(f"IngestConfig.normalization must be one of {METHODS}, got {self.normalization!r}.")
        if self.whitening not in WHITENING:
            raise ValueError(f"IngestConfig.whitening must be one of {WHITENING}, got {self.whitening!r}.")
        if self.whitening_epsilon <= 0:
            raise ValueError(f"IngestConfig.whitening_epsilon must be > 0, got {self.whitening_epsilon}.")
        if self.chunk_images < 1:
            raise ValueError(f"IngestConfig.chunk_images must be >= 1, got {self.chunk_images}.")
        if self.float_dtype not in ("float32", "float64"):
            raise ValueError(f"IngestConfig.float_dtype must be 'float32' or 'float64', got {self.float_dtype!r}.")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> IngestConfig:
        """Builds a config from a (Kedro parameters) mapping, ``curation`` as a nested mapping."""
        values = dict(params)
        if isinstance(values.get("curation"), Mapping):
            values["curation"] = CurationConfig.from_dict(values["curation"])
        return config_from_dict(cls, values)


def _first_present(columns, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in columns), None)


def _image_metadata(export: Path, layout: str, metadata: pd.DataFrame) -> tuple[pd.DataFrame, list[str], int]:
    """Metadata of each image of a per-cell export, keyed by the export's own image keys.

    Joins on ``(TableNumber, ImageNumber)`` when the export has them and they match the metadata
    (cytominer database of BBBC021); otherwise on the Image table's plate, well and site.

    Returns:
        ``(table, keys, n_images)``: keys + ``METADATA_COLUMNS`` for the annotated images, the key
        columns, and the number of images in the export.
    """
    images = read_images(export, layout)
    meta = metadata[["TableNumber", "ImageNumber", *METADATA_COLUMNS]]
    if "TableNumber" in images.columns:
        keys = ["TableNumber", "ImageNumber"]
        joined = images[keys].astype(str).merge(meta.astype({k: str for k in keys}), on=keys, how="inner")
        if len(joined):
            return joined, keys, len(images)
    plate, well = _first_present(images.columns, _PLATE_COLUMNS), _first_present(images.columns, _WELL_COLUMNS)
    if plate is None or well is None or "Image_Metadata_Site" not in images.columns:
        raise InputDataError(
            f"'{export}': its image keys do not match the metadata and its Image table lacks plate, well "
            f"and site columns ({_PLATE_COLUMNS[0]}, {_WELL_COLUMNS[0]}, Image_Metadata_Site) to join on."
        )
    keys = [k for k in ("TableNumber", "ImageNumber") if k in images.columns]
    located = pd.DataFrame({
        **{k: images[k].astype(str) for k in keys},
        PLATE: images[plate].astype(str), WELL: images[well].astype(str),
        SITE: pd.to_numeric(images["Image_Metadata_Site"], errors="coerce"),
    })
    joined = located.merge(meta.drop(columns=["TableNumber", "ImageNumber"]), on=[PLATE, WELL, SITE], how="inner")
    if joined.empty:
        raise InputDataError(f"'{export}': no image matches the metadata by (plate, well, site).")
    return joined, keys, len(images)


def _well_metadata(metadata: pd.DataFrame) -> pd.DataFrame:
    """One metadata row per well (profile tables), ``Metadata_Site`` = 0."""
    wells = metadata.drop_duplicates([PLATE, WELL])[list(METADATA_COLUMNS)].copy()
    wells[SITE] = 0
    return wells.assign(Image_Metadata_Plate=wells[PLATE], Image_Metadata_Well=wells[WELL])


def _cells_table(meta: pd.DataFrame, features: np.ndarray, names: list[str], dtype: str) -> pd.DataFrame:
    columns: dict[str, Any] = {c: pd.Categorical(meta[c].astype(str)) for c in CATEGORICAL}
    columns[SITE] = meta[SITE].to_numpy().astype(np.int16)
    columns[CONCENTRATION] = meta[CONCENTRATION].to_numpy().astype(np.float32)
    table = pd.DataFrame(columns)[list(METADATA_COLUMNS)]
    return pd.concat([table, pd.DataFrame(features.astype(dtype, copy=False), columns=names)], axis=1)


def ingest_export(
    export: str | Path,
    image_metadata: str | Path | None,
    moa_metadata: str | Path | None,
    config: IngestConfig,
    layout: str | None = None,
    *,
    control_compounds: Sequence[str] = (CONTROL_MOA,),
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Reads, annotates, curates and (optionally) normalises a CellProfiler export.

    Args:
        export: the export (see ``readers.LAYOUTS``).
        image_metadata: ``BBBC021_v1_image.csv(.gz)``-like table (required: the image → treatment
            map); None raises ``InputDataError``.
        moa_metadata: ``BBBC021_v1_moa.csv``-like table; None for unlabelled data (new compounds):
            no treatment is excluded, ``Metadata_MOA`` is ``"DMSO"`` for the control compounds and
            ``UNKNOWN_MOA`` (``"unknown"``) for the others.
        config: ingestion settings.
        layout: the export's layout; detected when None.
        control_compounds: the compounds that are controls when ``moa_metadata`` is None.

    Returns:
        ``(cells, features, report)``: the cells table (one row per cell, or per well for
        profiles; ``Metadata_*`` columns with plate, well, batch, compound, treatment, MOA as
        categoricals, site int16, concentration float32; then the curated float features; DMSO
        cells included), the curated feature names, and a JSON-serialisable report (layout,
        counts, ``unannotated_treatments``, timings in seconds).
    """
    start = time.perf_counter()
    export = Path(export)
    if image_metadata is None:
        raise InputDataError(f"'{export}': ingestion needs the image metadata table (image → treatment).")
    layout = layout or detect_layout(export)
    metadata = read_bbbc021_metadata(image_metadata, moa_metadata, control_compounds=control_compounds)
    if layout == "profiles":
        keys, image_meta, n_images = ["Image_Metadata_Plate", "Image_Metadata_Well"], _well_metadata(metadata), None
    else:
        image_meta, keys, n_images = _image_metadata(export, layout, metadata)

    meta_parts, feature_parts = [], []
    all_columns: list[str] = []
    candidates: list[str] = []
    n_read = 0
    for index, chunk in enumerate(read_objects(export, layout, chunk_images=config.chunk_images), start=1):
        if index == 1:
            all_columns = list(chunk.columns)
            candidates = candidate_features(all_columns, config.curation)
            if not candidates:
                raise InputDataError(f"'{export}': no feature columns (Cells_*, Cytoplasm_*, Nuclei_*) found.")
        n_read += len(chunk)
        located = chunk[keys].astype(str).merge(image_meta, on=keys, how="left", validate="many_to_one")
        annotated = located[MOA].notna().to_numpy()
        meta_parts.append(located.loc[annotated, list(METADATA_COLUMNS)])
        feature_parts.append(numeric_columns(chunk.loc[annotated], candidates, str(export), config.float_dtype))
        logger.info("Ingest chunk %d: %d rows read (%d so far), %d annotated.", index, len(chunk), n_read,
                    int(annotated.sum()))
    if n_read == 0:
        raise InputDataError(f"'{export}' holds no cells (objects).")
    read_seconds = time.perf_counter() - start

    meta = pd.concat(meta_parts, ignore_index=True)
    features = np.concatenate(feature_parts) if feature_parts else np.empty((0, len(candidates)), config.float_dtype)
    del feature_parts
    if meta.empty:
        raise InputDataError(
            f"'{export}': none of its {n_read} rows belongs to an annotated image of '{image_metadata}'."
        )
    kept = select_features(all_columns, pd.DataFrame(features, columns=candidates, copy=False), config.curation,
                           source=str(export))
    features = features[:, [candidates.index(c) for c in kept]]
    control = (meta[MOA] == CONTROL_MOA).to_numpy()
    n_bad_values = int((~np.isfinite(features)).sum())
    features, keep = apply_nan_policy(features, config.nan_policy, features[control] if control.any() else None)
    meta = meta.loc[keep].reset_index(drop=True)
    logger.info("NaN policy %r: %d cells dropped.", config.nan_policy, int((~keep).sum()))
    curate_seconds = time.perf_counter() - start - read_seconds

    cells = _cells_table(meta, features, kept, config.float_dtype)
    del features
    cells = normalize_per_plate(cells, kept, config.normalization)
    if config.whitening == "zca_controls":
        cells = whiten_on_controls(cells, kept, config.whitening_epsilon)
    annotated_cells = cells[cells[MOA] != CONTROL_MOA]
    report = {
        "layout": layout,
        "export": str(export),
        "counts": {
            "images": n_images if n_images is not None else n_read,
            "cells_read": n_read,
            "cells_without_annotation": n_read - len(meta) - int((~keep).sum()),
            "cells_dropped_nan": int((~keep).sum()),
            "cells_kept": len(cells),
            "control_cells": int((cells[MOA] == CONTROL_MOA).sum()),
            "features_compartment_columns": len(feature_columns(all_columns)),
            "features_candidates": len(candidates),
            "features_kept": len(kept),
            "treatments": int(annotated_cells[TREATMENT].nunique()),
            "compounds": int(annotated_cells[COMPOUND].nunique()),
            "moas": int(annotated_cells[MOA].nunique()),
        },
        "unannotated_treatments": list(metadata.attrs.get("unannotated_treatments", [])),
        "nan_policy": config.nan_policy,
        "normalization": config.normalization,
        "whitening": config.whitening,
        "config": {**asdict(config), "curation": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in asdict(config.curation).items()}},
        "timings_s": {
            "read": round(read_seconds, 3),
            "curate": round(curate_seconds, 3),
            "total": round(time.perf_counter() - start, 3),
        },
    }
    if config.nan_policy == "impute_median":
        report["counts"]["values_imputed"] = n_bad_values
    logger.info("Ingested %d cells (%d controls) × %d features from '%s' in %.1f s.", len(cells),
                report["counts"]["control_cells"], len(kept), export, report["timings_s"]["total"])
    return cells, kept, report
