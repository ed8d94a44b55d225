"""Problems → one source SAA per problem (``pset1_source_model``, ``pset2_source_model``)."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_source

PROBLEMS = ("pset1", "pset2")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=train_source,
                inputs=["cells", "classes", "feature_list", "raw_manifest", "params:saa",
                        "params:source_training", "params:problem_name"],
                outputs=["source_model", "source_summary"],
                name="train_source_node",
            )
        ]
    )
    return sum(
        Pipeline(
            template,
            namespace=problem,
            inputs={"cells": f"{problem}_cells", "classes": f"{problem}_classes",
                    "feature_list": "feature_list", "raw_manifest": "raw_manifest"},
            outputs={"source_model": f"{problem}_source_model",
                     "source_summary": f"{problem}_source_summary"},
            parameters={"params:saa": "params:saa",
                        "params:source_training": "params:source_training"},
        )
        for problem in PROBLEMS
    )
