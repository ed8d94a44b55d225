"""Problems + source banks → every method under NSC and NSCB on Pset1, Pset2 and all12, one unit
per (protocol, problem, method, block of repetitions), then one fan-in: summary with intervals and
tests, figures and an HTML report. Run by name: ``kedro run --pipelines=benchmark``."""

from kedro.pipeline import Node, Pipeline

from hca_dtl.pipelines.grid import Grid
from hca_dtl.pipelines.units import grid_nodes

from .nodes import headline_benchmark, make_benchmark_figures, make_benchmark_report, summarise_benchmark


def create_pipeline(grid: Grid | None = None, **kwargs) -> Pipeline:
    nodes = grid_nodes(grid, "benchmark") if grid is not None else []
    if not nodes:
        return Pipeline([])
    return Pipeline(
        [
            *nodes,
            Node(summarise_benchmark,
                 ["benchmark_votes", "benchmark_accuracies", "benchmark_runs", "benchmark_choices"],
                 ["benchmark_comparisons", "benchmark_summary", "benchmark_summary_markdown"],
                 name="summarise_benchmark_node"),
            Node(headline_benchmark,
                 ["ingestion_report", "benchmark_summary", "benchmark_votes", "params:benchmark"],
                 "benchmark_headline_markdown", name="headline_benchmark_node"),
            Node(make_benchmark_figures,
                 ["ingestion_report", "benchmark_votes", "benchmark_accuracies", "classes_by_target"],
                 ["figure_benchmark_accuracy", "figure_benchmark_confusion"],
                 name="make_benchmark_figures_node"),
            Node(make_benchmark_report,
                 ["ingestion_report", "benchmark_summary", "benchmark_choices", "benchmark_runs",
                  "benchmark_accuracies", "classes_by_target", "figure_benchmark_accuracy",
                  "figure_benchmark_confusion", "parameters"],
                 "benchmark_report_html", name="make_benchmark_report_node"),
        ]
    )
