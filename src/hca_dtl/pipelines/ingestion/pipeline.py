"""Raw CellProfiler export + BBBC021 metadata → one curated per-cell table."""

from kedro.pipeline import Node, Pipeline

from .nodes import ingest_cells, prepare_raw_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=prepare_raw_data,
                inputs="params:data_source",
                outputs="raw_manifest",
                name="prepare_raw_data_node",
            ),
            Node(
                func=ingest_cells,
                inputs=["raw_manifest", "params:ingestion"],
                outputs=["cells", "feature_list", "ingestion_report"],
                name="ingest_cells_node",
            ),
        ]
    )
