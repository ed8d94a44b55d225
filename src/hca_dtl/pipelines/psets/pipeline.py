"""Cells table → Pset1, Pset2 (6 MOAs each, batch-aware) and all12 problems."""

from kedro.pipeline import Node, Pipeline

from .nodes import problem_classes, split_problems


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_problems,
                inputs=["cells", "params:psets", "params:transfer", "params:benchmark"],
                outputs=[
                    "pset1_cells", "pset1_classes",
                    "pset2_cells", "pset2_classes",
                    "all12_cells", "all12_classes",
                    "controls",
                    "pset_summary",
                ],
                name="split_problems_node",
            ),
            Node(problem_classes, ["pset1_classes", "pset2_classes", "all12_classes"],
                 "classes_by_target", name="classes_by_target_node"),
        ]
    )
