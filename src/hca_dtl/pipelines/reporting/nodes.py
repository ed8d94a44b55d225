"""Nodes of the ``reporting`` pipeline: the paper's figures and one self-contained HTML report."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from hca_dtl.pipelines.tracking import log_results
from hca_dtl.reporting.figures import accuracy_boxplots, confusion_heatmaps
from hca_dtl.reporting.html import provenance, render_markdown_report, render_report
from hca_dtl.reporting.tables import table1_with_paper


def source_label(manifest: dict[str, Any]) -> str:
    """The data-source label every figure and report carries."""
    return manifest["description"]


def make_figures(
    manifest: dict[str, Any],
    transfer_accuracies: pd.DataFrame,
    confusions: pd.DataFrame,
    classes: dict[str, list[str]],
) -> tuple[go.Figure, go.Figure]:
    """Figure 3 (accuracy box plots per setting) and Figure 4 (confusion matrices)."""
    label = source_label(manifest)
    return (accuracy_boxplots(transfer_accuracies, source_label=label),
            confusion_heatmaps(confusions, classes, source_label=label))


def make_report(
    manifest: dict[str, Any],
    ingestion_report: dict[str, Any],
    pset_summary: pd.DataFrame,
    table1: pd.DataFrame,
    table2: pd.DataFrame,
    table_s3: pd.DataFrame,
    runs: pd.DataFrame,
    figure3: go.Figure,
    figure4: go.Figure,
    parameters: dict[str, Any],
) -> tuple[str, str]:
    """The HTML report and its Markdown twin; both open with the data source."""
    sections = [
        ("Table 1 — baseline vs deep transfer learning (LOOCV, treatment accuracy)",
         table1_with_paper(table1)),
        ("Figure 3 — accuracy per setting", figure3),
        ("Figure 4 — confusion matrices (treatments)", figure4),
        ("Table 2 — SAA vs SVM baselines", table2),
        ("Suppl. Table S3 — precision, recall, F1 per MOA", table_s3),
        ("Suppl. Table S1 — problems", pset_summary),
        ("Run times", runs),
        ("Ingestion", pd.DataFrame([ingestion_report]).T.rename(columns={0: "value"})),
    ]
    kwargs = dict(
        title="Deep transfer learning of mechanisms of action (Kandaswamy et al. 2016, reproduced)",
        data_source=manifest,
        sections=sections,
        provenance=provenance(parameters, seeds={k: v.get("seed") for k, v in parameters.items()
                                                 if isinstance(v, dict) and "seed" in v}),
    )
    html, markdown = render_report(**kwargs), render_markdown_report(**kwargs)
    log_results(runs=runs, artifacts={"report.html": html, "report.md": markdown})
    return html, markdown
