"""A trained model (``predict_model``) + a new, unlabelled CellProfiler export → the predicted MOA of
every cell and treatment, with flags, and a vote-share figure. Run by name:
``kedro run --pipelines=predict``."""

from kedro.pipeline import Node, Pipeline

from .nodes import plot_vote_shares, predict_new_cells, prepare_new_export, vote_new_treatments


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=prepare_new_export,
                inputs=["predict_model", "params:predict"],
                outputs=["predict_input_cells", "predict_report"],
                name="prepare_new_export_node",
            ),
            Node(
                func=predict_new_cells,
                inputs=["predict_model", "predict_input_cells", "params:predict"],
                outputs="predictions_cells",
                name="predict_cells_node",
            ),
            Node(
                func=vote_new_treatments,
                inputs=["predictions_cells", "params:predict"],
                outputs=["predictions_treatments", "predictions_treatments_csv"],
                name="vote_treatments_node",
            ),
            Node(
                func=plot_vote_shares,
                inputs=["predictions_treatments", "predict_report"],
                outputs="predictions_vote_shares",
                name="plot_vote_shares_node",
            ),
        ]
    )
