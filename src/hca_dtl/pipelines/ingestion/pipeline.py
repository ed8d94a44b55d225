"""Raw CellProfiler export + platemap (or BBBC021 image table) and MOA table → one curated per-cell
table and the candidate normalisations fitted on its control rows."""

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
                outputs=["cells", "feature_list", "normalizers", "ingestion_report"],
                name="ingest_cells_node",
            ),
        ]
    )
