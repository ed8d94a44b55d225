"""Nodes of the ``reporting`` pipeline: the paper's figures and one self-contained HTML report.

Every label saying where the data come from is taken from the ingestion report, which the node
that writes the cells table writes after validating it: a failed ingestion cannot leave a label
newer than the data the tables were computed from.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def make_figures(report: dict[str, Any], transfer_accuracies: pd.DataFrame,
                 confusions: pd.DataFrame, classes: dict[str, list[str]]) -> tuple[Any, Any]:
    """Figure 3 (accuracy box plots per setting) and Figure 4 (confusion matrices)."""
    from hca_dtl.reporting.figures import accuracy_boxplots, confusion_heatmaps

    label = report["data_source"]
    return (accuracy_boxplots(transfer_accuracies, source_label=label),
            confusion_heatmaps(confusions, classes, source_label=label))


def make_report(
    report: dict[str, Any],
    pset_summary: pd.DataFrame,
    table1: pd.DataFrame,
    table2: pd.DataFrame,
    table_s3: pd.DataFrame,
    runs: pd.DataFrame,
    accuracies: pd.DataFrame,
    transfer_choices: pd.DataFrame,
    baseline_choices: pd.DataFrame,
    classes: dict[str, list[str]],
    figure3: Any,
    figure4: Any,
    parameters: dict[str, Any],
) -> tuple[str, str]:
    """The HTML report and its Markdown twin; both open with the data source."""
    from hca_dtl.reporting.html import data_source, provenance, render_markdown_report, render_report
    from hca_dtl.reporting.tables import choice_summary, run_warnings, table1_with_paper

    chance = {t: 1.0 / len(c) for t, c in classes.items()}
    choices = pd.concat([transfer_choices, baseline_choices], ignore_index=True)
    sections = [
        ("Table 1 — baseline vs deep transfer learning (LOOCV, treatment accuracy)",
         table1_with_paper(table1)),
        ("Warnings", run_warnings(runs, accuracies, chance)),
        ("Figure 3 — accuracy per setting", figure3),
        ("Figure 4 — confusion matrices (treatments)", figure4),
        ("Table 2 — SAA vs SVM baselines", table2),
        ("Suppl. Table S3 — precision, recall, F1 per MOA", table_s3),
        ("Suppl. Table S1 — problems", pset_summary),
        ("Choices made inside the training folds", choice_summary(choices)),
        ("Run times", runs),
        ("Ingestion", pd.DataFrame([report]).T.rename(columns={0: "value"})),
    ]
    kwargs = dict(
        title="Deep transfer learning of mechanisms of action (Kandaswamy et al. 2016, reproduced)",
        data_source=data_source(report),
        sections=sections,
        provenance=provenance(parameters, seeds={k: v.get("seed") for k, v in parameters.items()
                                                 if isinstance(v, dict) and "seed" in v}),
    )
    from hca_dtl.pipelines.tracking import log_results

    html, markdown = render_report(**kwargs), render_markdown_report(**kwargs)
    log_results(runs=runs, artifacts={"report.html": html, "report.md": markdown})
    return html, markdown
