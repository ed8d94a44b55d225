"""Nodes of the ``ingestion`` pipeline: locate (or generate, or download) the raw export, then
read, curate and normalise it into one per-cell table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from hca_dtl.data.download import fetch_all
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.readers import detect_layout
from hca_dtl.data.schema import InputDataError
from hca_dtl.data.synthetic import SyntheticConfig, write_synthetic_bbbc021

logger = logging.getLogger(__name__)


def prepare_raw_data(data_source: dict[str, Any]) -> dict[str, Any]:
    """Makes the raw export available and describes it.

    ``data_source.kind`` is ``synthetic`` (write the embedded synthetic, BBBC021-shaped data
    set), ``files`` (use files already on disk) or ``download`` (fetch the public BBBC021 files
    into ``raw_dir``, reusing a valid cache). The raw files are large and streamed to disk by the
    generator or downloader, so this node returns their manifest rather than the data.

    Returns:
        Manifest: ``layout``, ``export``, ``image_metadata``, ``moa_metadata``, ``synthetic``,
        ``description``.
    """
    kind = data_source["kind"]
    if kind == "synthetic":
        config = SyntheticConfig.from_dict(data_source["synthetic"])
        return write_synthetic_bbbc021(Path(data_source["raw_dir"]), config)
    if kind == "files":
        files = data_source["files"]
        paths = {key: files.get(key) for key in ("export", "image_metadata", "moa_metadata")}
    elif kind == "download":
        fetched = fetch_all(data_source["download"], Path(data_source["raw_dir"]))
        files = data_source["download"]
        paths = {key: str(fetched[key]) if key in fetched else None
                 for key in ("export", "image_metadata", "moa_metadata")}
    else:
        raise ValueError(f"data_source.kind must be synthetic, files or download, got {kind!r}")
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
        "synthetic": False,
        "description": files.get("description") or f"real data: {paths['export']}",
    }


def ingest_cells(
    manifest: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Reads the export, joins metadata, curates features and (optionally) normalises per plate.

    Returns:
        The cells table (cells × (metadata + float32 features), DMSO controls included), the
        kept feature names and an ingestion report (counts, timings, data source).
    """
    cells, features, report = ingest_export(
        manifest["export"],
        manifest.get("image_metadata"),
        manifest["moa_metadata"],
        IngestConfig.from_dict(params),
        layout=manifest.get("layout"),
    )
    report = {"data_source": manifest["description"], "synthetic": manifest["synthetic"], **report}
    logger.info("Ingested %d cells × %d features from %s", len(cells), len(features),
                manifest["description"])
    return cells, features, report
