"""Problems → the 12-class model that ``predict`` uses (``all12_model``): an SAA trained on every
annotated cell. (The source networks of transfer are part of each grid's pipeline.)"""

from kedro.pipeline import Node, Pipeline

from .nodes import train_final_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_final_model,
                inputs=["all12_cells", "all12_classes", "feature_list", "normalizers", "ingestion_report",
                        "params:ingestion", "params:saa", "params:source_training"],
                outputs=["all12_model", "all12_model_summary"],
                name="train_all12_model_node",
                tags={"unit"},
            ),
        ]
    )
