"""Predicting the MOA of new, unlabelled treatments with a trained SAA classifier.

A saved model carries what is needed to treat a new CellProfiler export like its training data:
``metadata["features"]`` (the curated features, in input order), ``metadata["ingestion"]`` (NaN
policy), ``metadata["normalizer"]`` (the training normalisation statistics, ``normalize.Normalizer``),
``metadata["classes"]`` and its min–max scaler. The steps:

1. ``prepare_export``: ingest the export (a platemap or image table, no MOA table), keeping
   exactly the model's features (a missing one is an ``InputDataError``), then normalise it: each
   plate centred on its own control cells, scaled and whitened with the training statistics
   (``statistics="training"``), or everything refitted on the export's controls (``"export"``).
2. ``predict_cells``: the MOA of every non-control cell, and how many of its features lie outside
   the model's training range by more than a tolerance. Control (DMSO) cells are not predicted.
3. ``vote_treatments``: the paper's majority vote per treatment, the vote share of every MOA, and
   two flags: ``weak_vote`` (winning share below a threshold) and ``out_of_range`` (share of the
   treatment's cells outside the training range above a threshold).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.ingest import IngestConfig, ingest_export
from hca_dtl.data.normalize import NormalizationSpec, Normalizer, fit_normalizer
from hca_dtl.data.readers import detect_layout, read_objects
from hca_dtl.data.schema import (
    COMPARTMENTS, COMPOUND, CONCENTRATION, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, TREATMENT, InputDataError,
)
from hca_dtl.evaluation.results import OUT_OF_RANGE, PREDICTED, PROBABILITY, require_columns
from hca_dtl.evaluation.voting import vote, vote_shares

logger = logging.getLogger(__name__)

N_FEATURES_OUT = "n_features_out_of_range"
_SHOWN = 30  # missing features named in an error message


def model_label(metadata: Mapping[str, Any]) -> str:
    """Names a model in messages: its problem, number of features and training data source."""
    return (f"the {metadata.get('problem', '?')} model ({len(metadata.get('features', []))} features, "
            f"trained on {metadata.get('data_source', 'an unrecorded data source')})")


def source_label(description: str, metadata: Mapping[str, Any]) -> str:
    """Figure label naming the new export and the model's training data (synthetic or real)."""
    kind = "SYNTHETIC" if metadata.get("synthetic") else "real"
    return (f"new export: {description} · predicted by the {metadata.get('problem', '?')} model "
            f"trained on {kind} data ({metadata.get('data_source', 'unrecorded')})")


def require_features(columns: Sequence[str], features: Sequence[str], *, model: str, export: str) -> None:
    """Raises ``InputDataError`` naming the model's ``features`` absent from ``columns`` (and how many)."""
    present = set(columns)
    missing = [f for f in features if f not in present]
    if missing:
        shown = ", ".join(missing[:_SHOWN]) + (f", … and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else "")
        raise InputDataError(
            f"'{export}' lacks {len(missing)} of the {len(features)} features of {model}: {shown}. "
            "Export these CellProfiler measurements, or predict with a model trained on this export's features."
        )


def prediction_config(ingestion: Mapping[str, Any], features: Sequence[str]) -> IngestConfig:
    """The model's ingestion settings, with curation replaced by "exactly the model's ``features``".

    ``keep`` forces the features in (whatever their NaN share or spread in the new export); the
    compartment prefixes as drop patterns leave every other column out. (Normalisation is not an
    ingestion step: ``model_normalizer``.)
    """
    curation = {"drop_patterns": [f"{c}_" for c in COMPARTMENTS], "keep": list(features)}
    return IngestConfig.from_dict({**ingestion, "curation": curation})


STATISTICS = ("training", "export")


def model_normalizer(cells: pd.DataFrame, metadata: Mapping[str, Any], statistics: str = "training") -> Normalizer:
    """The normaliser for a new export's ``cells`` (controls included).

    ``"training"``: the model's training normaliser recentred on each new plate's own controls
    (``Normalizer.recentred``: training scale and whitening); ``"export"``: refitted on the
    export's controls. A model saved without ``metadata["normalizer"]`` is refitted on the export
    with its ``metadata["ingestion"]`` settings, whatever ``statistics`` says.
    """
    if statistics not in STATISTICS:
        raise ValueError(f"normalization_statistics must be one of {STATISTICS}, got {statistics!r}.")
    if "normalizer" not in metadata:
        spec = _model_spec(metadata)
        logger.warning("%s carries no training normalisation statistics: %s refitted on the new export.",
                       model_label(metadata), spec.label)
        return fit_normalizer(cells, list(metadata["features"]), spec)
    trained = Normalizer.from_dict(metadata["normalizer"])
    return trained.recentred(cells) if statistics == "training" else trained.refitted(cells)


def _model_spec(metadata: Mapping[str, Any]) -> NormalizationSpec:
    if "normalizer" in metadata:
        return NormalizationSpec.from_dict(metadata["normalizer"]["spec"])
    ingestion = metadata.get("ingestion") or {}
    return NormalizationSpec(ingestion.get("normalization", "none"), ingestion.get("whitening", "none"),
                             ingestion.get("whitening_epsilon", 1.0))


def _plates_with_controls(cells: pd.DataFrame, export: str | Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows of plates holding control cells, and the cell count of each plate left out.

    Raises:
        InputDataError: no plate holds control cells.
    """
    plates = cells[PLATE].astype(str)
    lacking = ~plates.isin(set(plates[(cells[MOA] == CONTROL_MOA).to_numpy()]))
    skipped = {str(p): int(n) for p, n in plates[lacking].value_counts().sort_index().items()}
    if lacking.all():
        raise InputDataError(f"'{export}': no plate holds control cells to centre on; check predict.control_compounds "
                             "and the platemap's control wells.")
    if skipped:
        logger.warning("'%s': plate(s) %s hold no control cell to centre on; their %d cells are not predicted "
                       "(predict_report.json, ingestion.plates_without_controls).", export, list(skipped),
                       sum(skipped.values()))
    return cells[~lacking.to_numpy()], skipped


def prepare_export(
    export: str | Path,
    files: MetadataFiles,
    metadata: Mapping[str, Any],
    *,
    layout: str | None = None,
    statistics: str = "training",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Ingests and normalises an unlabelled export as the model's training data were.

    Args:
        export: The CellProfiler export (any layout of ``hca_dtl.data.readers``).
        files: Its platemap (or image table), column names and control compounds; an MOA table
            in it is ignored.
        metadata: The model's ``metadata`` (``features``, ``ingestion``, ``normalizer``,
            ``problem``, ``data_source``).
        layout: The export's layout; detected when None.
        statistics: ``"training"`` or ``"export"`` (``model_normalizer``).

    Returns:
        ``(cells, report)``: the normalised cells table (metadata columns, ``Metadata_MOA``
        ``"DMSO"`` or ``"unknown"``, then exactly ``metadata["features"]`` in the model's order;
        controls included) and the ingestion report with ``normalization`` (label, statistics)
        and ``plates_without_controls`` (plate -> cells; a plate without control cells cannot
        be centred, so its cells are left out of a normalised model's predictions).

    Raises:
        InputDataError: The export lacks some of the model's features (all named), is unreadable,
            or a plate has no control cells to centre on.
    """
    features = list(metadata["features"])
    layout = layout or detect_layout(export)
    first = next(read_objects(export, layout, chunk_images=1), pd.DataFrame())
    require_features(first.columns, features, model=model_label(metadata), export=str(export))
    config = prediction_config(metadata.get("ingestion") or {}, features)
    cells, _, report = ingest_export(export, replace(files, moa_metadata=None), config, layout)
    if _model_spec(metadata).method != "none":
        cells, report["plates_without_controls"] = _plates_with_controls(cells, export)
    normalizer = model_normalizer(cells, metadata, statistics)
    report["normalization"] = {"label": normalizer.spec.label, "statistics": statistics if "normalizer" in metadata
                               else "export (the model carries no training statistics)"}
    return normalizer.transform(cells)[[*METADATA_COLUMNS, *features]], report


def _scaler(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """The model's training ``minimum`` and ``scale`` (1 / range; 0 for constant features), (n_features,)."""
    scaling = getattr(model, "scaling", None)
    if scaling is None:
        raise ValueError(f"Model {model.name!r} has no 'scaling' layer (expected an SAAClassifier).")
    return (keras.ops.convert_to_numpy(scaling.minimum).astype(np.float64),
            keras.ops.convert_to_numpy(scaling.scale).astype(np.float64))


def features_out_of_range(x: np.ndarray, minimum: np.ndarray, scale: np.ndarray, tolerance: float) -> np.ndarray:
    """Per cell, how many features lie outside the training range by more than ``tolerance``.

    Args:
        x: (n_cells, n_features) raw features.
        minimum, scale: (n_features,) the scaler's training minimum and 1 / (max − min).
        tolerance: Allowed excess, as a fraction of the training range (0.1: 10 % beyond min or max).

    Returns:
        (n_cells,) int counts. Features constant in training (scale 0) are ignored by the model
        and not counted.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}.")
    scaled = (x - minimum) * scale  # 0 at the training minimum, 1 at the maximum
    beyond = ((scaled < -tolerance) | (scaled > 1.0 + tolerance)) & (scale > 0)
    return beyond.sum(axis=1)


def predict_cells(
    model: keras.Model, cells: pd.DataFrame, *, tolerance: float = 0.1, batch_size: int = 4096
) -> pd.DataFrame:
    """The predicted MOA of every non-control cell of ``cells``.

    Args:
        model: A trained ``SAAClassifier`` (``metadata``: ``features``, ``classes``).
        cells: Cells table holding the model's features (``prepare_export``); cells with
            ``Metadata_MOA == "DMSO"`` (controls) are left out.
        tolerance: See ``features_out_of_range``.
        batch_size: Cells per forward pass.

    Returns:
        One row per non-control cell: the metadata columns but ``Metadata_MOA``, ``predicted``
        (categorical over the model's classes), ``probability`` (of the predicted class),
        ``n_features_out_of_range`` (int) and ``out_of_range`` (bool: at least one feature).
    """
    features, classes = list(model.metadata["features"]), list(model.metadata["classes"])
    require_columns(cells, [*METADATA_COLUMNS, *features], "cells")
    treated = cells[cells[MOA] != CONTROL_MOA]
    if treated.empty:
        raise InputDataError("The cells table holds no non-control cells to predict (all are DMSO controls).")
    x = treated[features].to_numpy(dtype=np.float32)
    probabilities = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    codes = probabilities.argmax(axis=1)
    n_out = features_out_of_range(x.astype(np.float64), *_scaler(model), tolerance)
    table = treated[[c for c in METADATA_COLUMNS if c != MOA]].reset_index(drop=True)
    table[PREDICTED] = pd.Categorical.from_codes(codes, categories=classes)
    table[PROBABILITY] = probabilities[np.arange(len(codes)), codes].astype(np.float32)
    table[N_FEATURES_OUT] = n_out.astype(np.int32)
    table[OUT_OF_RANGE] = n_out > 0
    logger.info("Predicted %d cells of %d treatments (%d control cells not predicted); %.1f %% out of range.",
                len(table), table[TREATMENT].nunique(), len(cells) - len(treated), 100 * table[OUT_OF_RANGE].mean())
    return table


def vote_treatments(
    cell_predictions: pd.DataFrame,
    *,
    weak_vote_threshold: float = 0.5,
    out_of_range_threshold: float = 0.2,
) -> pd.DataFrame:
    """The MOA call of each treatment by majority vote of its cells, with flags.

    Ties are broken as everywhere in the project (``voting.vote``): the highest mean
    probability, then the alphabetically first MOA.

    Args:
        cell_predictions: ``predict_cells`` output (``predicted`` categorical over the classes).
        weak_vote_threshold: ``weak_vote`` when the winning share is below it.
        out_of_range_threshold: ``out_of_range`` when the share of out-of-range cells exceeds it.

    Returns:
        One row per treatment, sorted by treatment: ``Metadata_Compound``,
        ``Metadata_Concentration`` (µM), ``Metadata_Treatment``, ``predicted`` (str),
        ``vote_share`` (winning share), ``n_cells``, ``weak_vote`` (bool),
        ``out_of_range_fraction``, ``out_of_range`` (bool), then one column per class (its share
        of the cells, fractions summing to 1).
    """
    for name, value in (("weak_vote_threshold", weak_vote_threshold), ("out_of_range_threshold", out_of_range_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}.")
    require_columns(cell_predictions, [COMPOUND, CONCENTRATION, TREATMENT, PREDICTED, PROBABILITY, OUT_OF_RANGE],
                    "cell predictions")
    predicted = cell_predictions[PREDICTED]
    if not isinstance(predicted.dtype, pd.CategoricalDtype):
        raise InputDataError("The cell predictions' 'predicted' column must be categorical over the model's classes.")
    classes = [str(c) for c in predicted.cat.categories]
    group = [COMPOUND, CONCENTRATION, TREATMENT]
    shares = vote_shares(cell_predictions, by=group)
    treatments = shares[TREATMENT].astype(str)
    if treatments.duplicated().any():
        raise InputDataError(f"Treatment {treatments[treatments.duplicated()].iloc[0]!r} has several "
                             "compounds or concentrations in the cell predictions.")
    winners = vote(cell_predictions, [TREATMENT])
    winner = pd.Series(winners[PREDICTED].to_numpy(), index=winners[TREATMENT])
    out_fraction = cell_predictions.groupby(cell_predictions[TREATMENT].astype(str))[OUT_OF_RANGE].mean()
    table = shares[group].copy()
    table[PREDICTED] = winner.loc[treatments].to_numpy()
    table["vote_share"] = shares[classes].to_numpy()[np.arange(len(table)), [classes.index(c) for c in table[PREDICTED]]]
    table["n_cells"] = shares["n_cells"].astype(np.int64)
    table["weak_vote"] = table["vote_share"] < weak_vote_threshold
    table["out_of_range_fraction"] = out_fraction.loc[treatments].to_numpy()
    table[OUT_OF_RANGE] = table["out_of_range_fraction"] > out_of_range_threshold
    table[classes] = shares[classes].to_numpy()
    for column in (COMPOUND, TREATMENT):
        table[column] = table[column].astype(str)
    return table.sort_values(TREATMENT, kind="stable").reset_index(drop=True)
