"""Nodes of the ``baselines`` pipeline: the statistics of every experiment of the paper's tables
(transfer settings, the 12-class problem and the baselines) and Tables 2 and S3."""

from __future__ import annotations

import pandas as pd


def evaluate_experiments(
    transfer_votes: pd.DataFrame,
    transfer_accuracies: pd.DataFrame,
    baseline_votes: pd.DataFrame,
    baseline_accuracies: pd.DataFrame,
    classes: dict[str, list[str]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Votes, accuracies, tests against BL, confusion matrices and per-MOA scores of every
    experiment.

    Returns:
        ``(votes, accuracies, comparisons, confusions, class_scores)``.
    """
    from hca_dtl.evaluation.statistics import compare_to_baseline, confusion_matrices, per_class_scores
    from hca_dtl.pipelines.tracking import log_results

    votes = pd.concat([transfer_votes, baseline_votes], ignore_index=True)
    accuracy = pd.concat([transfer_accuracies, baseline_accuracies], ignore_index=True)
    comparisons = compare_to_baseline(accuracy, votes, baseline_approach="BL")
    log_results(accuracies=baseline_accuracies, comparisons=comparisons)
    confusions, scores = [], []
    for target, target_classes in classes.items():
        target_votes = votes[votes["target"].astype(str) == target]
        confusions.append(confusion_matrices(target_votes, target_classes))
        scores.append(per_class_scores(target_votes, target_classes))
    return (votes, accuracy, comparisons, pd.concat(confusions, ignore_index=True),
            pd.concat(scores, ignore_index=True))


def collect_runs(*runs: pd.DataFrame) -> pd.DataFrame:
    """Timings of every experiment in one table."""
    return pd.concat(runs, ignore_index=True)


def comparison_tables(
    accuracy: pd.DataFrame, class_scores: pd.DataFrame
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Table 2 (SAA vs SVMs, as Markdown too) and Suppl. Table S3 (precision/recall/F1)."""
    from hca_dtl.reporting.tables import table2, table_s3, to_markdown

    t2 = table2(accuracy)
    return t2, to_markdown(t2, title="Table 2"), table_s3(class_scores)
