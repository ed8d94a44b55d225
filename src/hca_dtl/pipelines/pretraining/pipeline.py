"""Problems → one SAA per problem (``{pset1,pset2,all12}_source_model``): the Psets' models are
the sources of transfer; the 12-MOA model is the default for ``predict``."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_source

PROBLEMS = ("pset1", "pset2", "all12")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=train_source,
                inputs=["cells", "classes", "feature_list", "raw_manifest", "normalizers", "params:ingestion",
                        "params:saa", "params:source_training", "params:problem_name"],
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
                    "feature_list": "feature_list", "raw_manifest": "raw_manifest",
                    "normalizers": "normalizers"},
            outputs={"source_model": f"{problem}_source_model",
                     "source_summary": f"{problem}_source_summary"},
            parameters={"params:saa": "params:saa", "params:ingestion": "params:ingestion",
                        "params:source_training": "params:source_training"},
        )
        for problem in PROBLEMS
    )
