"""Nodes of the ``pretraining`` pipeline: the source model of each problem (greedy layerwise
pretraining, then supervised fine-tuning on the whole problem)."""

from __future__ import annotations

from typing import Any

import keras
import pandas as pd

from hca_dtl.data.normalize import normalize_problem
from hca_dtl.evaluation.experiments import train_source_model
from hca_dtl.evaluation.loocv import train_valid_split
from hca_dtl.model import SAAConfig
from hca_dtl.runtime import device_description, keras_backend, package_versions


def train_source(
    cells: pd.DataFrame,
    classes: list[str],
    features: list[str],
    manifest: dict[str, Any],
    normalizers: dict[str, Any],
    ingestion: dict[str, Any],
    saa: dict[str, Any],
    params: dict[str, Any],
    problem: str,
) -> tuple[keras.Model, dict[str, Any]]:
    """Trains the SAA that transfer reuses, on all cells of one problem.

    Validation cells (whole wells, ``params.validation_fraction``) drive early stopping. The
    ingestion settings and the default normaliser (fitted on the training controls) travel with the
    model so that ``predict`` prepares new data the same way.

    Returns:
        The model (carrying features, classes, scaler, configuration, data source and package
        versions) and a JSON summary of its training.
    """
    cells, normalizer = normalize_problem(cells, normalizers)
    plan = train_valid_split(cells, validation_fraction=params["validation_fraction"],
                              seed=params["seed"])
    metadata = {
        "problem": problem,
        "saa": saa,
        "ingestion": ingestion,
        "normalization": normalizer.spec.label,
        "normalizer": normalizer.to_dict(),
        "data_source": manifest["description"],
        "synthetic": manifest["synthetic"],
        "backend": keras_backend(),
        "device": device_description(),
        "package_versions": package_versions(),
    }
    model = train_source_model(cells, classes, features, plan, SAAConfig.from_dict(saa), metadata)
    summary = {k: v for k, v in model.metadata.items() if k not in ("features", "normalizer")}
    return model, summary
