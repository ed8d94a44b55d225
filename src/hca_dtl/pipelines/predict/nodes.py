"""Nodes of the ``predict`` pipeline: prepare a new export like the model's training data, predict
its cells, vote per treatment, plot the vote shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.schema import TREATMENT, InputDataError
from hca_dtl.evaluation.results import OUT_OF_RANGE, PREDICTED

logger = logging.getLogger(__name__)


def prepare_new_export(model: Any, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Ingests ``params.export`` without MOA labels, with the model's features, ingestion settings
    and normalisation statistics (``params.normalization_statistics``: ``training`` or ``export``).

    Returns:
        The normalised cells table (controls included, exactly the model's features) and the
        prediction report: export, labels, the model's description, the ingestion counts and join
        accounting, and the normalisation used.
    """
    files = MetadataFiles.from_dict(params)
    for key in ("export", "platemap", "barcode_platemap", "image_metadata"):
        if (key == "export" or params.get(key)) and not (params.get(key) and Path(params[key]).exists()):
            raise InputDataError(
                f"predict.{key}: '{params.get(key)}' does not exist. Place the file there or set predict.{key} "
                "in conf/local/parameters_predict.yml (docs/own-data.md, 'Predict new compounds')."
            )
    from hca_dtl.evaluation.prediction import model_label, prepare_export, source_label

    metadata = model.metadata
    cells, ingestion = prepare_export(params["export"], files, metadata, layout=params.get("layout"),
                                      statistics=params.get("normalization_statistics", "training"))
    description = params.get("description") or f"'{params['export']}'"
    report = {
        "export": str(params["export"]),
        "description": description,
        "source_label": source_label(description, metadata),
        "model": {
            "label": model_label(metadata),
            **{key: metadata.get(key) for key in ("problem", "data_source", "synthetic", "classes", "ingestion")},
            "n_features": len(metadata["features"]),
        },
        "control_compounds": list(params["control_compounds"]),
        "ingestion": {key: ingestion.get(key) for key in ("layout", "join", "counts", "normalization",
                                                          "plates_without_controls", "timings_s")},
    }
    return cells, report


def predict_new_cells(model: Any, cells: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The predicted MOA of every non-control cell (controls are not predicted), with its
    probability and out-of-range count (``hca_dtl.evaluation.prediction.predict_cells``)."""
    from hca_dtl.evaluation.prediction import predict_cells

    return predict_cells(model, cells, tolerance=params["range_tolerance"])


def vote_new_treatments(cell_predictions: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per treatment: majority-vote MOA, vote shares, cell count and flags (twice: Parquet
    and CSV)."""
    from hca_dtl.evaluation.prediction import vote_treatments

    treatments = vote_treatments(cell_predictions, weak_vote_threshold=params["weak_vote_threshold"],
                                 out_of_range_threshold=params["out_of_range_threshold"])
    flagged = treatments["weak_vote"] | treatments[OUT_OF_RANGE]
    logger.info("%d treatments predicted; %d weak votes, %d out of the model's range.", len(treatments),
                int(treatments["weak_vote"].sum()), int(treatments[OUT_OF_RANGE].sum()))
    if flagged.any():
        logger.info("Flagged: %s", ", ".join(treatments.loc[flagged, TREATMENT].head(20)))
    return treatments, treatments


def plot_vote_shares(treatments: pd.DataFrame, report: dict[str, Any]) -> Any:
    """Stacked MOA vote shares per treatment, grouped by predicted MOA; the bar labels carry the
    call, the cell count and the flags; the title names the new export and the model's data."""
    from hca_dtl.reporting.figures import vote_share_figure

    classes = [str(c) for c in report["model"]["classes"]]
    table = treatments.sort_values([PREDICTED, "vote_share"], ascending=[True, False], kind="stable")
    flags = (table["weak_vote"].map({True: " ⚑ weak vote", False: ""})
             + table[OUT_OF_RANGE].map({True: " ⚑ out of range", False: ""}))
    labels = table[TREATMENT] + " → " + table[PREDICTED] + " (n=" + table["n_cells"].astype(str) + ")" + flags
    shares = pd.concat([labels.rename("treatment"), table[classes]], axis=1)
    return vote_share_figure(shares, classes, source_label=report["source_label"])
