"""Nodes of the ``transfer`` pipeline: the paper's Table 1 experiment — baseline (BL) and deep
transfer learning settings (DTL_k, a layer mask) in both directions, under LOOCV."""

from __future__ import annotations

import logging
from typing import Any

import keras
import pandas as pd

from hca_dtl.evaluation.experiments import experiment_keys, run_saa_experiment
from hca_dtl.evaluation.loocv import FoldPlan, leave_one_compound_out
from hca_dtl.evaluation.statistics import compare_to_baseline
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.model import SAAConfig, transfer_setting
from hca_dtl.pipelines.tracking import log_results
from hca_dtl.reporting.tables import table1, to_markdown

logger = logging.getLogger(__name__)


def plan_folds(cells: pd.DataFrame, params: dict[str, Any]) -> FoldPlan:
    """Leave-one-compound-out folds (× repetitions) over one problem's cells."""
    plan = leave_one_compound_out(
        cells,
        n_repetitions=params["n_repetitions"],
        validation_fraction=params["validation_fraction"],
        hold_out_batch=params.get("hold_out_batch", False),
        seed=params["seed"],
    )
    logger.info("%d folds (%d compounds × %d repetitions)", plan.roles.shape[1],
                len(set(plan.compounds)), params["n_repetitions"])
    return plan


def _selected(value: str | list[str] | None, available: list[str], what: str) -> list[str]:
    """Names chosen with ``--params`` (a space-separated string or a list); all when empty."""
    if not value or value == "all":
        return available
    chosen = value.split() if isinstance(value, str) else list(value)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose among {available}")
    return chosen


def run_transfer_experiments(
    pset1_cells: pd.DataFrame,
    pset1_classes: list[str],
    pset2_cells: pd.DataFrame,
    pset2_classes: list[str],
    features: list[str],
    pset1_plan: FoldPlan,
    pset2_plan: FoldPlan,
    pset1_source_model: keras.Model,
    pset2_source_model: keras.Model,
    saa: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trains every selected setting in every selected direction.

    ``params.settings`` maps an approach name to a transfer setting (``transfer_setting``:
    ``null`` for the baseline — random initialisation and greedy pretraining of every layer; a
    mask starts its ``1`` layers from the source model and its ``0`` layers from random weights,
    not pretrained, unless given as ``{mask: ..., pretrain: true}``).

    Returns:
        Cell predictions (test cells of every fold) and runs (timings), all experiments stacked.
    """
    problems = {
        "Pset1": (pset1_cells, pset1_classes, pset1_plan, pset1_source_model),
        "Pset2": (pset2_cells, pset2_classes, pset2_plan, pset2_source_model),
    }
    config = SAAConfig.from_dict(saa)
    directions = {f"{s}_to_{t}".lower(): (s, t) for s, t in (("Pset2", "Pset1"), ("Pset1", "Pset2"))}
    settings = params["settings"]
    predictions, runs = [], []
    for direction in _selected(params.get("directions"), list(directions), "directions"):
        source, target = directions[direction]
        cells, classes, plan, _ = problems[target]
        source_model = problems[source][3]
        for approach in _selected(params.get("approaches"), list(settings), "approaches"):
            setting = transfer_setting(settings[approach])
            cell_predictions, run = run_saa_experiment(
                cells, classes, features, plan, config,
                experiment_keys(approach, target, setting=setting, source=source),
                setting=setting, source_models=[source_model], engine=params["engine"],
            )
            predictions.append(cell_predictions)
            runs.append(run)
    return pd.concat(predictions, ignore_index=True), pd.concat(runs, ignore_index=True)


def summarise_transfer(
    cell_predictions: pd.DataFrame, runs: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Majority vote per treatment, accuracy per repetition, tests against BL and Table 1.

    Returns:
        ``(votes, accuracies, comparisons, table1, table1_markdown)``.
    """
    votes = majority_vote(cell_predictions)
    accuracy = accuracies(votes, cell_predictions)
    comparisons = compare_to_baseline(accuracy, baseline_approach="BL")
    table = table1(accuracy, runs, comparisons)
    markdown = to_markdown(table, title="Table 1")
    log_results(accuracies=accuracy, comparisons=comparisons, runs=runs,
                artifacts={"table1.csv": table, "table1.md": markdown})
    return votes, accuracy, comparisons, table, markdown
