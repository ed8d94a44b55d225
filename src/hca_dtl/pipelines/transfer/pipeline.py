"""Problems + source models → LOOCV predictions of BL and every DTL setting → Table 1."""

from kedro.pipeline import Node, Pipeline

from .nodes import plan_folds, run_transfer_experiments, summarise_transfer


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(plan_folds, ["pset1_cells", "params:loocv"], "pset1_fold_plan",
                 name="plan_pset1_folds_node"),
            Node(plan_folds, ["pset2_cells", "params:loocv"], "pset2_fold_plan",
                 name="plan_pset2_folds_node"),
            Node(
                func=run_transfer_experiments,
                inputs=[
                    "pset1_cells", "pset1_classes", "pset2_cells", "pset2_classes",
                    "feature_list", "pset1_fold_plan", "pset2_fold_plan",
                    "pset1_source_model", "pset2_source_model", "normalizers", "params:saa",
                    "params:transfer",
                ],
                outputs=["transfer_cell_predictions", "transfer_runs"],
                name="run_transfer_experiments_node",
            ),
            Node(
                func=summarise_transfer,
                inputs=["transfer_cell_predictions", "transfer_runs"],
                outputs=["transfer_votes", "transfer_accuracies", "transfer_comparisons",
                         "table1", "table1_markdown"],
                name="summarise_transfer_node",
            ),
        ]
    )
