"""Problems + source models → every method under NSC and NSCB → results table, figures, report."""

from kedro.pipeline import Node, Pipeline

from .nodes import make_benchmark_figures, make_benchmark_report, run_benchmark, summarise_benchmark


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                run_benchmark,
                ["pset1_cells", "pset1_classes", "pset2_cells", "pset2_classes", "all12_cells",
                 "all12_classes", "feature_list", "pset1_source_model", "pset2_source_model",
                 "normalizers", "params:saa", "params:benchmark"],
                ["benchmark_votes", "benchmark_runs"],
                name="run_benchmark_node",
            ),
            Node(summarise_benchmark, "benchmark_votes",
                 ["benchmark_summary", "benchmark_summary_markdown"],
                 name="summarise_benchmark_node"),
            Node(make_benchmark_figures,
                 ["raw_manifest", "benchmark_votes", "pset1_classes", "pset2_classes",
                  "all12_classes"],
                 ["figure_benchmark_accuracy", "figure_benchmark_confusion"],
                 name="make_benchmark_figures_node"),
            Node(make_benchmark_report,
                 ["raw_manifest", "benchmark_summary", "figure_benchmark_accuracy",
                  "figure_benchmark_confusion", "params:saa", "params:benchmark"],
                 "benchmark_report_html", name="make_benchmark_report_node"),
        ]
    )
