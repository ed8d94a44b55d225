"""Problems + source banks → the paper's Table 1: BL and every DTL setting in both directions, one
unit per (direction, setting, block of repetitions), then one fan-in (votes, accuracies, tests,
Table 1)."""

from kedro.pipeline import Node, Pipeline

from hca_dtl.pipelines.grid import Grid
from hca_dtl.pipelines.units import grid_nodes

from .nodes import summarise_transfer


def create_pipeline(grid: Grid | None = None, **kwargs) -> Pipeline:
    nodes = grid_nodes(grid, "transfer") if grid is not None else []
    if not nodes:
        return Pipeline([])
    return Pipeline(
        [
            *nodes,
            Node(
                func=summarise_transfer,
                inputs=["transfer_votes", "transfer_accuracies", "transfer_runs"],
                outputs=["transfer_comparisons", "table1", "table1_markdown"],
                name="summarise_transfer_node",
            ),
        ]
    )
