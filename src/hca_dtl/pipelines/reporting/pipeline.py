"""Tables and figures → Figure 3, Figure 4 and one self-contained HTML report."""

from kedro.pipeline import Node, Pipeline

from .nodes import make_figures, make_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                make_figures,
                ["raw_manifest", "transfer_accuracies", "confusion_matrices", "classes_by_target"],
                ["figure3_accuracy", "figure4_confusion"],
                name="make_figures_node",
            ),
            Node(
                make_report,
                ["raw_manifest", "ingestion_report", "pset_summary", "table1", "table2",
                 "table_s3", "all_runs", "figure3_accuracy", "figure4_confusion", "parameters"],
                ["report_html", "report_markdown"],
                name="make_report_node",
            ),
        ]
    )
