"""The 12-class problem, SVM baselines, and statistics of every experiment."""

from kedro.pipeline import Node, Pipeline

from hca_dtl.pipelines.transfer.nodes import plan_folds

from .nodes import (
    collect_runs,
    comparison_tables,
    evaluate_experiments,
    problem_classes,
    run_baselines,
    run_twelve_class,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(plan_folds, ["all12_cells", "params:loocv"], "all12_fold_plan",
                 name="plan_all12_folds_node"),
            Node(
                run_twelve_class,
                ["all12_cells", "all12_classes", "feature_list", "all12_fold_plan", "normalizers",
                 "params:saa", "params:twelve_class"],
                ["twelve_class_cell_predictions", "twelve_class_runs"],
                name="run_twelve_class_node",
            ),
            Node(
                run_baselines,
                ["pset1_cells", "pset1_classes", "pset2_cells", "pset2_classes", "feature_list",
                 "pset1_fold_plan", "pset2_fold_plan", "normalizers", "params:baselines"],
                ["baseline_cell_predictions", "baseline_runs"],
                name="run_baselines_node",
            ),
            Node(problem_classes, ["pset1_classes", "pset2_classes", "all12_classes"],
                 "classes_by_target", name="classes_by_target_node"),
            Node(
                evaluate_experiments,
                ["transfer_votes", "transfer_cell_predictions", "twelve_class_cell_predictions",
                 "baseline_cell_predictions", "classes_by_target"],
                ["votes", "accuracies", "comparisons", "confusion_matrices", "class_scores"],
                name="evaluate_experiments_node",
            ),
            Node(collect_runs, ["transfer_runs", "twelve_class_runs", "baseline_runs"], "all_runs",
                 name="collect_runs_node"),
            Node(
                comparison_tables,
                ["accuracies", "class_scores"],
                ["table2", "table2_markdown", "table_s3"],
                name="comparison_tables_node",
            ),
        ]
    )
