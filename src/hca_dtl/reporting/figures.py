"""The paper's figures as plotly figures (saved as ``plotly.JSONDataset``, previewed in kedro-viz).

Every figure's title carries the data-source label it is given, so that a figure drawn from
synthetic data cannot be taken for BBBC021 results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from hca_dtl.data.schema import InputDataError
from hca_dtl.evaluation.results import EXPERIMENT_KEYS, require_columns
from hca_dtl.reporting.common import format_cell, order_experiments, str_keys
from hca_dtl.reporting.paper import PAPER, PAPER_N_MOAS, paper_table1_row

PAPER_MARKER = dict(symbol="diamond-open", size=13, color="black", line=dict(width=2))


def accuracy_boxplots(accuracies: pd.DataFrame, *, source_label: str) -> go.Figure:
    """Figure 3: treatment accuracy (%) per setting over repetitions, one panel per target
    (left: target Pset1 reusing Pset2; right: target Pset2 reusing Pset1).

    Args:
        accuracies: keys + ``repetition``, ``treatment_accuracy`` (fraction).
        source_label: Where the data come from; shown in the title.

    Returns:
        One box trace (all points shown) per experiment, and per panel one marker trace with
        the paper's mean accuracy for the settings the paper reports.
    """
    require_columns(accuracies, [*EXPERIMENT_KEYS, "repetition", "treatment_accuracy"], "accuracies")
    table = order_experiments(str_keys(accuracies))
    targets = list(dict.fromkeys(table["target"]))
    titles = []
    for target in targets:
        sources = sorted(set(table.loc[table["target"] == target, "source"]) - {""})
        titles.append(f"Target {target}" + (f" (DTL reusing {', '.join(sources)})" if sources else ""))
    fig = make_subplots(rows=1, cols=len(targets), subplot_titles=titles, shared_yaxes=True)
    colours = _colours(table["approach"])
    in_legend: set[str] = set()
    for col, target in enumerate(targets, start=1):
        in_target = table[table["target"] == target]
        paper_x, paper_y = [], []
        for _, group in in_target.groupby("experiment", sort=False):
            approach, mask = group["approach"].iloc[0], group["mask"].iloc[0]
            fig.add_trace(go.Box(
                x=[approach] * len(group), y=100.0 * group["treatment_accuracy"], name=approach,
                boxpoints="all", jitter=0.3, pointpos=0, marker_color=colours[approach],
                legendgroup=approach, showlegend=approach not in in_legend,
                hovertext=[f"repetition {r}" for r in group["repetition"]],
            ), row=1, col=col)
            in_legend.add(approach)
            paper = paper_table1_row(mask, target)
            if paper is not None:
                paper_x.append(approach)
                paper_y.append(paper["accuracy_pct_mean"])
        if paper_x:
            fig.add_trace(go.Scatter(
                x=paper_x, y=paper_y, mode="markers", marker=PAPER_MARKER,
                name=f"Paper mean ({PAPER})", legendgroup="paper", showlegend="paper" not in in_legend,
            ), row=1, col=col)
            in_legend.add("paper")
    fig.update_yaxes(title_text="Treatment accuracy (%)", col=1)
    fig.update_xaxes(title_text="Setting")
    fig.update_layout(title=_title("Figure 3 — treatment accuracy per setting (LOOCV)", source_label),
                      boxmode="overlay")
    return fig


def confusion_heatmaps(
    confusions: pd.DataFrame, classes_by_target: Mapping[str, Sequence[str]], *, source_label: str,
    columns: int = 3,
) -> go.Figure:
    """Figure 4: treatment confusion matrices, one heatmap per experiment; each target starts a
    new row and wraps after ``columns`` panels, so the figure fits a page.

    Args:
        confusions: Long table: keys + ``true``, ``predicted``, ``count``, ``row_fraction``.
        classes_by_target: MOA names of each target, in display order.
        source_label: Where the data come from; shown in the title.
        columns: Panels per row.

    Returns:
        One heatmap trace per experiment: cell text = count, colour = row-normalised fraction
        (true class rows, predicted class columns, shared colour scale 0..1).
    """
    require_columns(confusions, [*EXPERIMENT_KEYS, "true", "predicted", "count", "row_fraction"],
                    "confusion matrices")
    table = str_keys(confusions)
    experiments = order_experiments(table.drop_duplicates(list(EXPERIMENT_KEYS)))
    targets = list(dict.fromkeys(experiments["target"]))
    unknown = [t for t in targets if t not in classes_by_target]
    if unknown:
        raise InputDataError(f"The confusion matrices table has target(s) {unknown} missing from "
                             f"classes_by_target {sorted(classes_by_target)}.")
    panels = []  # (target, experiments of one figure row)
    for target in targets:
        names = list(experiments.loc[experiments["target"] == target, "experiment"])
        panels += [(target, names[i:i + columns]) for i in range(0, len(names), columns)]
    n_cols = min(columns, max(len(row) for _, row in panels))
    titles = [row[c] if c < len(row) else "" for _, row in panels for c in range(n_cols)]
    fig = make_subplots(rows=len(panels), cols=n_cols, subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=0.3 / len(panels))
    for r, (target, row) in enumerate(panels, start=1):
        classes = [str(c) for c in classes_by_target[target]]
        for c, experiment in enumerate(row, start=1):
            counts, fractions = _matrix(table[table["experiment"] == experiment], classes, experiment)
            fig.add_trace(go.Heatmap(
                z=fractions.to_numpy(), x=classes, y=classes, coloraxis="coloraxis", name=experiment,
                text=counts.map(format_cell).to_numpy(), texttemplate="%{text}",
                hovertemplate=("true %{y}<br>predicted %{x}<br>count %{text}<br>"
                               "row fraction %{z:.2f}<extra>" + experiment + "</extra>"),
            ), row=r, col=c)
            fig.update_yaxes(autorange="reversed", showticklabels=c == 1, row=r, col=c)
            fig.update_xaxes(tickangle=45, row=r, col=c)
    fig.update_layout(
        title=_title("Figure 4 — confusion matrices (treatments; text = count, colour = row fraction)",
                     source_label),
        coloraxis=dict(colorscale="Blues", cmin=0.0, cmax=1.0, colorbar=dict(title="row fraction")),
        height=420 * len(panels) + 120, width=330 * n_cols + 260,
    )
    return fig


def vote_share_figure(vote_shares: pd.DataFrame, classes: Sequence[str], *, source_label: str) -> go.Figure:
    """Stacked horizontal bars of the MOA vote shares of each treatment (or other group).

    Args:
        vote_shares: One row per group, as ``hca_dtl.evaluation.voting.vote_shares`` returns
            it: the grouping columns (joined to label the bar), one column per class (fraction
            of the group's cells voting for it) and optionally ``n_cells``.
        classes: The MOA columns to stack, in order.
        source_label: Where the data come from; shown in the title.

    Returns:
        One bar trace per class (shares in %, stacked to 100 per group).
    """
    classes = [str(c) for c in classes]
    require_columns(vote_shares, classes, "vote shares")
    shares = vote_shares[classes].astype(float)
    if ((shares < 0) | (shares > 1)).to_numpy().any():
        raise InputDataError("The vote shares table holds values outside [0, 1] in its class columns.")
    label_columns = [c for c in vote_shares.columns if c not in classes and c != "n_cells"]
    if label_columns:
        labels = vote_shares[label_columns].astype(str).agg(" · ".join, axis=1).tolist()
    else:
        labels = [str(i) for i in vote_shares.index]
    if len(set(labels)) != len(labels):
        raise InputDataError(f"The vote shares table's groups {label_columns} are not unique.")
    fig = go.Figure([
        go.Bar(y=labels, x=100.0 * shares[moa], orientation="h", name=moa,
               hovertemplate="%{y}<br>" + moa + ": %{x:.1f} %<extra></extra>")
        for moa in classes
    ])
    fig.update_layout(
        barmode="stack", title=_title("MOA vote shares of the cells of each treatment", source_label),
        xaxis=dict(title="Share of cells (%)", range=[0, 100]), yaxis=dict(autorange="reversed"),
        height=max(300, 28 * len(labels) + 160),
    )
    return fig


def accuracy_comparison(
    accuracies: pd.DataFrame,
    title: str,
    *,
    source_label: str,
    chance: Mapping[str, float] | None = None,
    metric: str = "treatment_accuracy",
) -> go.Figure:
    """Methods × problems: mean ± SD accuracy (%) over repetitions, with chance level drawn.

    Args:
        accuracies: keys + ``repetition`` and ``metric`` (fraction) for every method (approach)
            and problem (target).
        title: Figure title; the data-source label is added below it.
        source_label: Where the data come from.
        chance: Chance accuracy (fraction) per target; defaults to one over the paper's number
            of MOAs (Pset1, Pset2: 6; all12: 12).
        metric: ``treatment_accuracy`` or ``cell_accuracy``.

    Returns:
        One bar trace per method (grouped by target, SD error bars) and one marker trace for
        the chance levels.
    """
    require_columns(accuracies, [*EXPERIMENT_KEYS, "repetition", metric], "accuracies")
    table = order_experiments(str_keys(accuracies))
    targets = list(dict.fromkeys(table["target"]))
    levels = {**{t: 1.0 / n for t, n in PAPER_N_MOAS.items()}, **(chance or {})}
    unknown = [t for t in targets if t not in levels]
    if unknown:
        raise InputDataError(f"No chance level for target(s) {unknown}: pass chance={{target: fraction}}.")
    stats = table.groupby(["approach", "target"], sort=False)[metric].agg(["mean", "std"])
    fig = go.Figure()
    for approach in dict.fromkeys(table["approach"]):
        rows = stats.loc[approach].reindex(targets)
        fig.add_trace(go.Bar(
            x=targets, y=100.0 * rows["mean"], name=approach,
            error_y=dict(type="data", array=(100.0 * rows["std"]).fillna(0.0).tolist()),
        ))
    fig.add_trace(go.Scatter(
        x=targets, y=[100.0 * levels[t] for t in targets], mode="markers", name="chance level",
        marker=dict(symbol="line-ew-open", size=70, line=dict(width=3, color="black")),
    ))
    fig.update_layout(barmode="group", title=_title(title, source_label),
                      yaxis=dict(title=f"{metric.replace('_', ' ').capitalize()} (%)", range=[0, 100]),
                      xaxis=dict(title="Problem"))
    return fig


def _title(text: str, source_label: str) -> dict:
    if not source_label:
        raise ValueError("source_label is empty: every figure must say where its data come from.")
    return dict(text=f"{text}<br><sup>Data: {source_label}</sup>")



def _colours(approaches: pd.Series) -> dict[str, str]:
    palette = qualitative.Plotly
    return {a: palette[i % len(palette)] for i, a in enumerate(dict.fromkeys(approaches))}


def _matrix(rows: pd.DataFrame, classes: list[str], experiment: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count and row-fraction matrices (true × predicted, ``classes`` order) of one experiment."""
    for column in ("true", "predicted"):
        unknown = sorted(set(rows[column].astype(str)) - set(classes))
        if unknown:
            raise InputDataError(f"The confusion matrices table's column {column!r} holds {unknown} "
                                 f"for {experiment!r}, not among its target's classes {classes}.")
    rows = rows.assign(true=rows["true"].astype(str), predicted=rows["predicted"].astype(str))
    pivot = rows.pivot_table(index="true", columns="predicted", values=["count", "row_fraction"],
                             aggfunc="sum", fill_value=0.0, observed=True)
    counts = pivot["count"].reindex(index=classes, columns=classes, fill_value=0.0)
    fractions = pivot["row_fraction"].reindex(index=classes, columns=classes, fill_value=0.0)
    return counts, fractions
