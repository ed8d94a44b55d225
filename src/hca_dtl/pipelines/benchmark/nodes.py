"""Nodes of the ``benchmark`` pipeline: our networks and transfer settings against the baselines
people quote for BBBC021, under both protocols — NSC (hold out the compound) and NSCB (also hold
out every batch the compound was imaged in) — on Pset1, Pset2 and the 12-class problem."""

from __future__ import annotations

from typing import Any

import pandas as pd


def _problem(target: str) -> str:
    return target.removesuffix(" NSCB")


def summarise_benchmark(votes: pd.DataFrame, accuracies: pd.DataFrame, runs: pd.DataFrame,
                        choices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """One row per problem × protocol × method (``reporting.tables.benchmark_summary``) and the
    tests behind it (``statistics.compare_to_baseline``: over repetitions, and over compounds with
    Holm's correction across the whole table).

    Returns:
        ``(comparisons, summary, summary as Markdown)``.
    """
    from hca_dtl.evaluation.statistics import compare_to_baseline
    from hca_dtl.reporting.tables import benchmark_summary, to_markdown

    from hca_dtl.pipelines.tracking import log_results

    comparisons = compare_to_baseline(accuracies, votes, baseline_approach="BL")
    summary = benchmark_summary(votes, accuracies, comparisons, runs, choices)
    markdown = to_markdown(summary.pipe(_percent), title="Benchmark")
    log_results(accuracies=accuracies, comparisons=comparisons, runs=runs, prefix="benchmark/",
                artifacts={"benchmark_summary.csv": summary, "benchmark_summary.md": markdown,
                           "benchmark_choices.csv": choices})
    return comparisons, summary, markdown


def headline_benchmark(report: dict[str, Any], summary: pd.DataFrame, votes: pd.DataFrame,
                       benchmark: dict[str, Any]) -> str:
    """The two short tables of ``reporting.tables.benchmark_headline`` (the README's) under the
    data source's label; the network methods are those of ``benchmark.settings``."""
    from hca_dtl.reporting.tables import benchmark_headline

    tables = benchmark_headline(summary, votes, networks=list(benchmark.get("settings") or {}))
    return f"Data: {report['data_source']}\n\n{tables}"


def _percent(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with accuracies and differences in percent (for reading)."""
    columns = [c for c in summary.columns if c.startswith(("accuracy", "ci95", "difference"))]
    return summary.assign(**{c: (100.0 * summary[c]).round(1) for c in columns})


def make_benchmark_figures(report: dict[str, Any], votes: pd.DataFrame, accuracies: pd.DataFrame,
                           classes: dict[str, list[str]]) -> tuple[Any, Any]:
    """Accuracy per method and problem (mean ± SD over repetitions, chance = 1 / number of MOAs)
    and the treatment confusion matrices of every method (summed over repetitions), both
    protocols; titled with the data source of the cells they were computed from."""
    from hca_dtl.evaluation.statistics import confusion_matrices
    from hca_dtl.reporting.figures import accuracy_comparison, confusion_heatmaps

    by_target = {t: classes[_problem(t)] for t in dict.fromkeys(votes["target"].astype(str))}
    confusions = pd.concat([confusion_matrices(votes[votes["target"].astype(str) == t], c)
                            for t, c in by_target.items()], ignore_index=True)
    label = report["data_source"]
    return (accuracy_comparison(accuracies, "Benchmark — treatment accuracy, leave one compound out",
                                source_label=label,
                                chance={t: 1.0 / len(c) for t, c in by_target.items()}),
            confusion_heatmaps(confusions, by_target, source_label=label))


def make_benchmark_report(report: dict[str, Any], summary: pd.DataFrame, choices: pd.DataFrame,
                          runs: pd.DataFrame, accuracies: pd.DataFrame, classes: dict[str, list[str]],
                          accuracy_figure: Any, confusion_figure: Any,
                          parameters: dict[str, Any]) -> str:
    """One self-contained HTML page: the data source first, then the summary table, the choices
    made inside the folds, warnings, and the figures."""
    from hca_dtl.reporting.html import data_source, provenance, render_report
    from hca_dtl.reporting.tables import choice_summary, run_warnings

    from hca_dtl.pipelines.tracking import log_results

    html = render_report(
        title="Benchmark — every method under NSC and NSCB (treatment accuracy, %)",
        data_source=data_source(report),
        sections=[("Summary (accuracy in %; see the notes below the table)", _percent(summary)),
                  ("Choices made inside the training folds (how often each candidate won)",
                   choice_summary(choices)),
                  ("Warnings", run_warnings(runs, accuracies, {
                      t: 1.0 / len(classes[_problem(t)]) for t in accuracies["target"].astype(str)})),
                  ("Accuracy per method and problem", accuracy_figure),
                  ("Confusion matrices (treatments, summed over repetitions)", confusion_figure)],
        provenance=provenance(parameters, seeds={k: v.get("seed") for k, v in parameters.items()
                                                 if isinstance(v, dict) and "seed" in v}),
    )
    log_results(artifacts={"benchmark_report.html": html})
    return html
