"""Nodes of the ``ingestion`` pipeline: locate (or generate, or download) the raw export, read and
curate it into one per-cell table, and fit the candidate normalisations on its control rows."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.download import fetch_all
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.normalize import NormalizationSpec, fit_normalizer
from hca_dtl.data.readers import detect_layout
from hca_dtl.data.schema import InputDataError
from hca_dtl.data.synthetic import SyntheticConfig, write_synthetic_bbbc021

logger = logging.getLogger(__name__)

_FILES = ("export", "platemap", "barcode_platemap", "image_metadata", "moa_metadata")


def prepare_raw_data(data_source: dict[str, Any]) -> dict[str, Any]:
    """Makes the raw export available and describes it.

    ``data_source.kind`` is ``synthetic`` (write the embedded synthetic, BBBC021-shaped data
    set), ``files`` (use files already on disk) or ``download`` (fetch the public BBBC021 files
    into ``raw_dir``, reusing a valid cache). The raw files are large and streamed to disk by the
    generator or downloader, so this node returns their manifest rather than the data.

    Returns:
        Manifest: ``layout``, ``export``, the metadata files (``platemap``, ``barcode_platemap``,
        ``image_metadata``, ``moa_metadata``; absent ones None), ``columns``,
        ``control_compounds``, ``synthetic``, ``description``.
    """
    kind = data_source["kind"]
    if kind == "synthetic":
        config = SyntheticConfig.from_dict(data_source["synthetic"])
        return write_synthetic_bbbc021(Path(data_source["raw_dir"]), config)
    if kind == "files":
        files = data_source["files"]
        paths = {key: files.get(key) for key in _FILES}
    elif kind == "download":
        fetched = fetch_all(data_source["download"], Path(data_source["raw_dir"]))
        files = data_source["download"]
        paths = {key: str(fetched[key]) if key in fetched else None for key in _FILES}
    else:
        raise ValueError(f"data_source.kind must be synthetic, files or download, got {kind!r}")
    if paths["export"] is None:
        raise InputDataError(f"data_source.{kind}.export is not set: give the path of your CellProfiler export "
                             "in conf/local/parameters_ingestion.yml (docs/own-data.md).")
    for key, path in paths.items():
        if path is not None and not Path(path).exists():
            raise InputDataError(
                f"data_source.{kind}.{key}: '{path}' does not exist. "
                "Place the file there or point conf/local/parameters_ingestion.yml at it."
            )
    layout = files.get("layout") or detect_layout(paths["export"])
    return {
        "layout": layout,
        **{key: str(path) if path else None for key, path in paths.items()},
        "columns": files.get("columns") or {},
        "control_compounds": list(files.get("control_compounds") or ["DMSO"]),
        "synthetic": False,
        "description": files.get("description") or f"real data: {paths['export']}",
    }


def _fitted(cells: pd.DataFrame, features: list[str], spec: NormalizationSpec, manifest: dict[str, Any]) -> dict:
    """``fit_normalizer(...).to_dict()``, its errors naming the export and the setting to change."""
    try:
        return fit_normalizer(cells, features, spec).to_dict()
    except InputDataError as error:
        raise InputDataError(
            f"Normalisation {spec.label!r} of '{manifest['export']}': {error} Controls are the cells of "
            f"data_source.files.control_compounds {manifest.get('control_compounds', ['DMSO'])}; without controls "
            "on every plate set ingestion.normalization: none (and whitening: none)."
        ) from error


def ingest_cells(
    manifest: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, list[str], dict[str, Any], dict[str, Any]]:
    """Reads the export, joins its metadata, curates the features and fits the normalisations.

    Returns:
        The cells table, **not normalised** (cells × (metadata + float32 features), DMSO controls
        included), the kept feature names, the candidate normalisers (label -> ``Normalizer``
        dict, in candidate order, each fitted on the control rows only; the first is the
        default) and the ingestion report (join accounting, counts, timings, data source,
        normalisations).
    """
    config = IngestConfig.from_dict(params)
    cells, features, report = ingest_export(manifest["export"], MetadataFiles.from_dict(manifest), config,
                                            layout=manifest.get("layout"))
    normalizers = {spec.label: _fitted(cells, features, spec, manifest) for spec in config.normalization_specs}
    report = {"data_source": manifest["description"], "synthetic": manifest["synthetic"], **report,
              "normalizations": list(normalizers), "normalization_default": next(iter(normalizers))}
    logger.info("Ingested %d cells × %d features from %s; normalisations fitted on the controls: %s",
                len(cells), len(features), manifest["description"], ", ".join(normalizers))
    return cells, features, normalizers, report
