"""Problems + source models → every method under NSC and NSCB → one results table."""

from kedro.pipeline import Node, Pipeline

from .nodes import run_benchmark, summarise_benchmark


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                run_benchmark,
                ["pset1_cells", "pset1_classes", "pset2_cells", "pset2_classes", "all12_cells",
                 "all12_classes", "feature_list", "pset1_source_model", "pset2_source_model",
                 "params:saa", "params:benchmark"],
                ["benchmark_votes", "benchmark_runs"],
                name="run_benchmark_node",
            ),
            Node(summarise_benchmark, "benchmark_votes",
                 ["benchmark_summary", "benchmark_summary_markdown"],
                 name="summarise_benchmark_node"),
        ]
    )
