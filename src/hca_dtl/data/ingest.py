"""Ingestion: a CellProfiler export + its metadata -> the curated, un-normalised cells table.

``ingest_export`` streams the export a chunk of images at a time, gives every cell its image's
plate, well, site, batch, compound, concentration, treatment and MOA (``annotate``: a platemap or
the BBBC021 image table, and the MOA table), keeps the candidate feature columns as float32, then
curates the features (``curation``: decided on the control rows) and handles NaN values. Every
cell is accounted for: read, matched (control or annotated) or unmatched — no metadata row for
its image / well, or no MOA for its treatment — and the run fails when too many non-control
cells are unmatched (``IngestConfig.max_unmatched_share`` / ``max_unannotated_share``). Without
an MOA table (new compounds to predict) every treatment is kept: control compounds get
``Metadata_MOA`` ``"DMSO"``, the others ``schema.UNKNOWN_MOA``.

Normalisation is not applied here: ``normalize.fit_normalizer`` fits it later on the control
rows, so that several candidates can be tried and nothing is fitted on a held-out compound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.annotate import (
    IMAGE_KEYS, KEPT, NO_METADATA_ROW, NO_MOA, ROW, STATUS, Annotation, ExportColumns, JoinAccount, MetadataFiles,
    locate,
)
from hca_dtl.data.curation import (
    NAN_POLICIES, CurationConfig, apply_nan_policy, candidate_features, select_features,
)
from hca_dtl.data.normalize import NormalizationSpec, normalization_specs
from hca_dtl.data.readers import detect_layout, numeric_columns, read_images, read_objects
from hca_dtl.data.schema import (
    BATCH, COMPOUND, CONCENTRATION, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, SITE, TREATMENT, WELL,
    InputDataError, feature_columns,
)

logger = logging.getLogger(__name__)

CATEGORICAL = (PLATE, WELL, BATCH, COMPOUND, TREATMENT, MOA)
_PROFILE_COLUMNS = ExportColumns()  # read_profiles renames the plate and well columns to these


@dataclass(frozen=True)
class IngestConfig:
    """How to turn an export into a cells table (``params:ingestion``).

    ``nan_policy``: ``"drop"`` or ``"impute_median"`` (medians of the DMSO control cells);
    ``normalization``, ``whitening``, ``whitening_epsilon``: the normalisation candidates fitted
    after ingestion (``normalize.normalization_specs``: each a value or ``{candidates: [...]}``);
    ``max_unmatched_share``: largest share of non-control cells allowed without a metadata row
    (platemap / image table) before ingestion fails; ``max_unannotated_share``: the same for
    cells whose treatment has no MOA; ``chunk_images``: images read at a time; ``float_dtype``: of
    the features.
    """

    curation: CurationConfig = field(default_factory=CurationConfig)
    nan_policy: str = "drop"
    normalization: Any = "none"
    whitening: Any = "none"
    whitening_epsilon: Any = 1.0
    max_unmatched_share: float = 0.01
    max_unannotated_share: float = 0.05
    chunk_images: int = 250
    float_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"IngestConfig.nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}.")
        self.normalization_specs  # noqa: B018 — validates the candidates
        for name in ("max_unmatched_share", "max_unannotated_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"IngestConfig.{name} must be in [0, 1], got {getattr(self, name)}.")
        if self.chunk_images < 1:
            raise ValueError(f"IngestConfig.chunk_images must be >= 1, got {self.chunk_images}.")
        if self.float_dtype not in ("float32", "float64"):
            raise ValueError(f"IngestConfig.float_dtype must be 'float32' or 'float64', got {self.float_dtype!r}.")

    @property
    def normalization_specs(self) -> list[NormalizationSpec]:
        """The candidate normalisations, first = the default."""
        return normalization_specs({"normalization": self.normalization, "whitening": self.whitening,
                                    "whitening_epsilon": self.whitening_epsilon})

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> IngestConfig:
        """Builds a config from a (Kedro parameters) mapping, ``curation`` as a nested mapping."""
        values = dict(params)
        if isinstance(values.get("curation"), Mapping):
            values["curation"] = CurationConfig.from_dict(values["curation"])
        return config_from_dict(cls, values)


def _cells_table(meta: pd.DataFrame, features: np.ndarray, names: list[str], dtype: str) -> pd.DataFrame:
    columns: dict[str, Any] = {c: pd.Categorical(meta[c].astype(str)) for c in CATEGORICAL}
    columns[SITE] = meta[SITE].to_numpy().astype(np.int16)
    columns[CONCENTRATION] = meta[CONCENTRATION].to_numpy().astype(np.float32)
    table = pd.DataFrame(columns)[list(METADATA_COLUMNS)]
    return pd.concat([table, pd.DataFrame(features.astype(dtype, copy=False), columns=names)], axis=1)


def _annotated_chunks(export: Path, layout: str, annotation: Annotation, account: JoinAccount, config: IngestConfig):
    """Yields ``(chunk, annotated)`` per chunk of the export: its rows, and each row's metadata
    and status (``Annotation.annotate``), after counting them in ``account``."""
    columns = annotation.files.columns.export
    if layout == "profiles":
        plate_well = (columns.plate, columns.well)
        chunks = read_objects(export, layout, chunk_images=config.chunk_images, plate_well=plate_well)
        keys = None
        for chunk in chunks:
            located = locate(chunk, _PROFILE_COLUMNS, per_well=True)
            keys = keys or annotation.join_keys(located)
            annotated = annotation.annotate(located, keys)
            account.add(annotated, keys)
            yield chunk, annotated
        return
    images = locate(read_images(export, layout), columns, per_well=False)
    account.n_images = len(images)
    keys = annotation.join_keys(images)
    by_image = annotation.annotate(images, keys)
    links = [k for k in IMAGE_KEYS if k in images.columns]  # how a cell names its image
    for chunk in read_objects(export, layout, chunk_images=config.chunk_images):
        annotated = locate(chunk[links], columns, per_well=False).merge(by_image, on=links, how="left",
                                                                       validate="many_to_one")
        annotated[STATUS] = annotated[STATUS].fillna(NO_METADATA_ROW)  # a cell of an image not in the Image table
        annotated[ROW] = annotated[ROW].fillna(-1)
        annotated.index = chunk.index
        account.add(annotated, keys)
        yield chunk, annotated


def ingest_export(
    export: str | Path,
    metadata: MetadataFiles,
    config: IngestConfig,
    layout: str | None = None,
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Reads, annotates and curates a CellProfiler export (not normalised: see ``normalize``).

    Args:
        export: the export (see ``readers.LAYOUTS``).
        metadata: the platemap (or BBBC021 image table) and MOA table (None for unlabelled data:
            nothing is excluded, ``Metadata_MOA`` is ``"DMSO"`` for the control compounds and
            ``UNKNOWN_MOA`` for the others), with their column names.
        config: ingestion settings.
        layout: the export's layout; detected when None.

    Returns:
        ``(cells, features, report)``: the cells table (one row per cell, or per well for
        profiles; ``Metadata_*`` columns with plate, well, batch, compound, treatment, MOA as
        categoricals, site int16, concentration float32; then the curated float features; DMSO
        cells included), the curated feature names, and a JSON-serialisable report (layout,
        ``join``: cells read / matched / unmatched by reason with examples, counts, unannotated
        treatments, which rows decided the curation, timings in seconds).

    Raises:
        InputDataError: unreadable export or metadata, a duplicate metadata key, too many
            unmatched cells (``IngestConfig.max_unmatched_share``, ``max_unannotated_share``),
            text in a feature column, or no control or annotated cell at all.
    """
    start = time.perf_counter()
    export = Path(export)
    layout = layout or detect_layout(export)
    annotation = Annotation(metadata)
    account = JoinAccount(annotation, str(export))
    meta_parts, feature_parts = [], []
    all_columns: list[str] = []
    candidates: list[str] = []
    for index, (chunk, annotated) in enumerate(_annotated_chunks(export, layout, annotation, account, config), 1):
        if index == 1:
            all_columns = list(chunk.columns)
            candidates = candidate_features(all_columns, config.curation)
            if not candidates:
                raise InputDataError(f"'{export}': no feature columns (Cells_*, Cytoplasm_*, Nuclei_*) found.")
        kept = annotated[STATUS].isin(KEPT).to_numpy()
        meta_parts.append(annotated.loc[kept, list(METADATA_COLUMNS)])
        feature_parts.append(numeric_columns(chunk[kept], candidates, str(export), config.float_dtype))
        logger.info("Ingest chunk %d: %d rows read (%d so far), %d matched.", index, len(chunk), account.n_read,
                    int(kept.sum()))
    if account.n_read == 0:
        raise InputDataError(f"'{export}' holds no cells (objects).")
    account.check(config.max_unmatched_share, config.max_unannotated_share)
    read_seconds = time.perf_counter() - start

    meta = pd.concat(meta_parts, ignore_index=True)
    features = np.concatenate(feature_parts)
    del feature_parts
    if meta.empty:
        raise InputDataError(f"'{export}': none of its {account.n_read} rows is a control or an annotated "
                             f"treatment of the {metadata.source}.")
    control = (meta[MOA] == CONTROL_MOA).to_numpy()
    if control.any():
        curation_rows = f"the {int(control.sum())} control rows"
    else:
        curation_rows = "all rows (the export has no control rows: a treated compound can change the feature list)"
        logger.warning("'%s' has no control (%s) rows: curating on %s.", export, "/".join(metadata.control_compounds),
                       curation_rows)
    sample = features[control] if control.any() else features
    kept = select_features(all_columns, pd.DataFrame(sample, columns=candidates, copy=False), config.curation,
                           source=str(export))
    features = features[:, [candidates.index(c) for c in kept]]
    n_bad_values = int((~np.isfinite(features)).sum())
    features, keep = apply_nan_policy(features, config.nan_policy, features[control] if control.any() else None)
    meta = meta.loc[keep].reset_index(drop=True)
    logger.info("NaN policy %r: %d cells dropped.", config.nan_policy, int((~keep).sum()))
    curate_seconds = time.perf_counter() - start - read_seconds

    cells = _cells_table(meta, features, kept, config.float_dtype)
    del features
    join = account.summary()
    annotated_cells = cells[cells[MOA] != CONTROL_MOA]
    report = {
        "layout": layout,
        "export": str(export),
        "join": join,
        "counts": {
            "images": account.n_images if account.n_images is not None else join["cells_read"],
            "cells_read": join["cells_read"],
            "cells_matched": join["cells_matched"],
            "cells_no_metadata_row": join["cells_unmatched"][NO_METADATA_ROW],
            "cells_no_moa": join["cells_unmatched"][NO_MOA],
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
        "unannotated_treatments": sorted(t for (t,) in account.unmatched[NO_MOA]),
        "curation_rows": curation_rows,
        "nan_policy": config.nan_policy,
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
    logger.info("Ingested %d cells (%d controls) × %d features from '%s' in %.1f s; %d of %d cells read matched "
                "(%d without a metadata row, %d without an MOA).", len(cells), report["counts"]["control_cells"],
                len(kept), export, report["timings_s"]["total"], join["cells_matched"], join["cells_read"],
                join["cells_unmatched"][NO_METADATA_ROW], join["cells_unmatched"][NO_MOA])
    return cells, kept, report
