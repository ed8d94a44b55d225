"""The 12-class problem and the SVM baselines (units of the ``baselines`` grid), then the
statistics of every experiment of the paper's tables: Table 2, Suppl. Table S3, the confusion
matrices of Figure 4."""

from kedro.pipeline import Node, Pipeline

from hca_dtl.pipelines.grid import Grid
from hca_dtl.pipelines.units import grid_nodes

from .nodes import collect_runs, comparison_tables, evaluate_experiments


def create_pipeline(grid: Grid | None = None, **kwargs) -> Pipeline:
    nodes = grid_nodes(grid, "baselines") if grid is not None else []
    if not nodes:
        return Pipeline([])
    return Pipeline(
        [
            *nodes,
            Node(
                evaluate_experiments,
                ["transfer_votes", "transfer_accuracies", "baselines_votes",
                 "baselines_accuracies", "classes_by_target"],
                ["votes", "accuracies", "comparisons", "confusion_matrices", "class_scores"],
                name="evaluate_experiments_node",
            ),
            Node(collect_runs, ["transfer_runs", "baselines_runs"], "all_runs",
                 name="collect_runs_node"),
            Node(comparison_tables, ["accuracies", "class_scores"],
                 ["table2", "table2_markdown", "table_s3"], name="comparison_tables_node"),
        ]
    )
