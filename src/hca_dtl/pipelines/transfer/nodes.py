"""Nodes of the ``transfer`` pipeline: the paper's Table 1 from its units' results."""

from __future__ import annotations

import pandas as pd


def summarise_transfer(votes: pd.DataFrame, accuracies: pd.DataFrame,
                       runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Tests of every setting against BL (over repetitions and over compounds, Holm-adjusted) and
    Table 1 (as a table and as Markdown), all logged to the run's MLflow run."""
    from hca_dtl.evaluation.statistics import compare_to_baseline
    from hca_dtl.reporting.tables import table1, to_markdown

    from hca_dtl.pipelines.tracking import log_results

    comparisons = compare_to_baseline(accuracies, votes, baseline_approach="BL")
    table = table1(accuracies, runs, comparisons)
    markdown = to_markdown(table, title="Table 1")
    log_results(accuracies=accuracies, comparisons=comparisons, runs=runs,
                artifacts={"table1.csv": table, "table1.md": markdown})
    return comparisons, table, markdown
