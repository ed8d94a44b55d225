"""Tables and figures → Figure 3, Figure 4 and one self-contained HTML report."""

from kedro.pipeline import Node, Pipeline

from .nodes import make_figures, make_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                make_figures,
                ["ingestion_report", "transfer_accuracies", "confusion_matrices", "classes_by_target"],
                ["figure3_accuracy", "figure4_confusion"],
                name="make_figures_node",
            ),
            Node(
                make_report,
                ["ingestion_report", "pset_summary", "table1", "table2", "table_s3", "all_runs",
                 "accuracies", "transfer_choices", "baselines_choices", "classes_by_target",
                 "figure3_accuracy", "figure4_confusion", "parameters"],
                ["report_html", "report_markdown"],
                name="make_report_node",
            ),
        ]
    )
