"""Nodes of the ``evaluation`` pipeline: the 12-class problem without transfer, the paper's SVM
baselines under the same LOOCV, and the statistics of every experiment."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hca_dtl.evaluation.baselines import run_cell_baseline
from hca_dtl.evaluation.experiments import experiment_keys, run_saa_experiment
from hca_dtl.evaluation.loocv import FoldPlan
from hca_dtl.evaluation.statistics import compare_to_baseline, confusion_matrices, per_class_scores
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.model import SAAConfig
from hca_dtl.pipelines.tracking import log_results
from hca_dtl.reporting.tables import table2, table_s3, to_markdown


def run_twelve_class(
    cells: pd.DataFrame,
    classes: list[str],
    features: list[str],
    plan: FoldPlan,
    saa: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's 12-class problem: the baseline SAA (no transfer) under LOOCV."""
    keys = experiment_keys("BL", "all12")
    return run_saa_experiment(cells, classes, features, plan, SAAConfig.from_dict(saa), keys,
                              engine=params["engine"])


def run_baselines(
    pset1_cells: pd.DataFrame,
    pset1_classes: list[str],
    pset2_cells: pd.DataFrame,
    pset2_classes: list[str],
    features: list[str],
    pset1_plan: FoldPlan,
    pset2_plan: FoldPlan,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's SVM baselines (and any other configured method) under the same folds.

    ``params.methods`` maps a method name of ``hca_dtl.evaluation.baselines`` to its settings.
    """
    problems = {"Pset1": (pset1_cells, pset1_classes, pset1_plan),
                "Pset2": (pset2_cells, pset2_classes, pset2_plan)}
    predictions, runs = [], []
    for target, (cells, classes, plan) in problems.items():
        for method, settings in params["methods"].items():
            cell_predictions, run = run_cell_baseline(
                method, cells, features, plan, classes, settings or {},
                experiment=experiment_keys(method, target))
            predictions.append(cell_predictions)
            runs.append(run)
    return pd.concat(predictions, ignore_index=True), pd.concat(runs, ignore_index=True)


def evaluate_experiments(
    transfer_votes: pd.DataFrame,
    transfer_cell_predictions: pd.DataFrame,
    twelve_class_predictions: pd.DataFrame,
    baseline_predictions: pd.DataFrame,
    classes: dict[str, list[str]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Votes, accuracies, tests against BL, confusion matrices and per-MOA scores of every
    experiment (transfer, 12-class and baselines).

    Returns:
        ``(votes, accuracies, comparisons, confusions, class_scores)``.
    """
    other = pd.concat([twelve_class_predictions, baseline_predictions], ignore_index=True)
    votes = pd.concat([transfer_votes, majority_vote(other)], ignore_index=True)
    accuracy = accuracies(votes, pd.concat([transfer_cell_predictions, other], ignore_index=True))
    comparisons = compare_to_baseline(accuracy, baseline_approach="BL")
    log_results(accuracies=accuracy, comparisons=comparisons)
    confusions, scores = [], []
    for target, target_classes in classes.items():
        target_votes = votes[votes["target"] == target]
        confusions.append(confusion_matrices(target_votes, target_classes))
        scores.append(per_class_scores(target_votes, target_classes))
    return (votes, accuracy, comparisons, pd.concat(confusions, ignore_index=True),
            pd.concat(scores, ignore_index=True))


def collect_runs(*runs: pd.DataFrame) -> pd.DataFrame:
    """Timings of every experiment in one table."""
    return pd.concat(runs, ignore_index=True)


def problem_classes(pset1: list[str], pset2: list[str], all12: list[str]) -> dict[str, list[str]]:
    """Class lists by target name, as used in the experiment keys."""
    return {"Pset1": pset1, "Pset2": pset2, "all12": all12}


def comparison_tables(
    accuracy: pd.DataFrame, class_scores: pd.DataFrame
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Table 2 (SAA vs SVMs, as Markdown too) and Suppl. Table S3 (precision/recall/F1)."""
    t2 = table2(accuracy)
    return t2, to_markdown(t2, title="Table 2"), table_s3(class_scores)


