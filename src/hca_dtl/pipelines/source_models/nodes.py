"""Nodes of the ``source_models`` pipeline: the 12-class model that ``predict`` uses."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hca_dtl.pipelines.units import first_candidates, model_metadata


def train_final_model(cells: pd.DataFrame, classes: list[str], features: list[str],
                      normalizers: dict[str, Any], report: dict[str, Any], ingestion: dict[str, Any],
                      saa: dict[str, Any], params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The SAA trained on every annotated cell of the 12-class problem, the model ``predict``
    uses by default. Validation wells (``params.validation_fraction``) drive early stopping; the
    ingestion settings and the default normaliser (fitted on every control row) travel with it
    so that ``predict`` prepares new data the same way.

    Returns:
        The model (a ``SAAClassifier`` carrying features, classes, scaler, configuration, data
        source) and a JSON summary of its training.
    """
    from hca_dtl.data.normalize import FoldNormalizers
    from hca_dtl.evaluation.sources import train_source_bank
    from hca_dtl.model.learners import learner

    saa_learner = learner("saa")
    metadata = {**model_metadata(report, "all12", "saa", saa), "ingestion": ingestion}
    bank = train_source_bank(cells, classes, features, cells.iloc[:0], learner=saa_learner,
                             config=saa_learner.config(first_candidates(saa)),
                             hold_out_batch=False,
                             validation_fraction=params["validation_fraction"],
                             seed=params["seed"], metadata=metadata,
                             normalizers=FoldNormalizers(normalizers))
    model = bank.networks[0]
    return model, {k: v for k, v in model.metadata.items() if k not in ("features", "normalizer")}
