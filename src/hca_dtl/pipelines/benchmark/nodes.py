"""Nodes of the ``benchmark`` pipeline: our SAA and transfer settings against the baselines people
quote for BBBC021, under both protocols — NSC (hold out the compound) and NSCB (also hold out
every batch the compound was imaged in) — on Pset1, Pset2 and the 12-class problem."""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from hca_dtl.evaluation.baselines import nsc_nearest_neighbour, run_cell_baseline
from hca_dtl.evaluation.experiments import experiment_keys, run_saa_experiment
from hca_dtl.evaluation.loocv import leave_one_compound_out
from hca_dtl.evaluation.statistics import accuracy_interval, compare_to_baseline, confusion_matrices
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.model import SAAConfig, transfer_setting
from hca_dtl.pipelines.tracking import log_results
from hca_dtl.reporting.figures import accuracy_comparison, confusion_heatmaps
from hca_dtl.reporting.html import provenance, render_report

logger = logging.getLogger(__name__)

PROTOCOLS = {"NSC": False, "NSCB": True}


def _target(problem: str, protocol: str) -> str:
    return problem if protocol == "NSC" else f"{problem} NSCB"


def _problem(target: str) -> str:
    return target.removesuffix(" NSCB")


def run_benchmark(
    pset1_cells: pd.DataFrame,
    pset1_classes: list[str],
    pset2_cells: pd.DataFrame,
    pset2_classes: list[str],
    all12_cells: pd.DataFrame,
    all12_classes: list[str],
    features: list[str],
    pset1_source_model: keras.Model,
    pset2_source_model: keras.Model,
    saa: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs every method on every problem under every protocol, repetitions stacked.

    Under NSCB a fold whose held-out MOA has no training cell left (the MOA was imaged only in
    the compound's weeks) cannot be scored: its treatments are excluded, and counted in the
    summary. Transfer settings start each fold from the source model that was not trained on its
    held-out compound (``fold_sources``): the other Pset's, trained on all of its own cells
    (other compounds, possibly from the held-out compound's weeks). On the 12-class problem that
    is the Pset2 model for a Pset1 compound and vice versa, its logistic layer copied MOA by MOA.

    Returns:
        Treatment votes and runs (timings) of every experiment; the ``target`` column carries the
        problem and, for NSCB, the protocol (``"Pset1 NSCB"``).
    """
    problems = {
        "Pset1": (pset1_cells, pset1_classes, "Pset2"),
        "Pset2": (pset2_cells, pset2_classes, "Pset1"),
        "all12": (all12_cells, all12_classes, "Pset1|Pset2"),
    }
    source_models = [pset1_source_model, pset2_source_model]
    config = SAAConfig.from_dict(saa)
    votes, runs = [], []
    for protocol in params["protocols"]:
        hold_out_batch = PROTOCOLS[protocol]
        for problem in params["problems"]:
            cells, classes, source = problems[problem]
            target = _target(problem, protocol)
            plan = leave_one_compound_out(
                cells, n_repetitions=params["n_repetitions"],
                validation_fraction=params["validation_fraction"],
                hold_out_batch=hold_out_batch, seed=params["seed"])
            untrainable = set(plan.untrainable_folds.tolist())
            logger.info("%s: %d folds, %d unscorable under %s", target, plan.n_folds,
                        len(untrainable), protocol)

            def scored(cell_predictions: pd.DataFrame) -> pd.DataFrame:
                return majority_vote(cell_predictions[~cell_predictions["fold"].isin(untrainable)])

            if params.get("nearest_neighbour", True):
                nn = nsc_nearest_neighbour(
                    cells, features, hold_out_batch=hold_out_batch,
                    experiment=experiment_keys(f"{protocol} 1-NN", target))
                unscorable = set(plan.compounds[f] for f in untrainable)
                nn = nn[~nn["Metadata_Compound"].isin(unscorable)].drop(columns="moa_reachable")
                votes.append(pd.concat([nn.assign(repetition=r)
                                        for r in range(params["n_repetitions"])]))
            for method, settings in params["methods"].items():
                predictions, run = run_cell_baseline(
                    method, cells, features, plan, classes, settings or {},
                    experiment=experiment_keys(method, target))
                votes.append(scored(predictions))
                runs.append(run)
            for approach, value in params["saa_settings"].items():
                setting = transfer_setting(value)
                predictions, run = run_saa_experiment(
                    cells, classes, features, plan, config,
                    experiment_keys(approach, target, setting=setting, source=source),
                    setting=setting, source_models=source_models,
                    members=params.get("saa_members", 1))
                votes.append(scored(predictions))
                runs.append(run)
    return pd.concat(votes, ignore_index=True), pd.concat(runs, ignore_index=True)


def summarise_benchmark(votes: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Treatment-level accuracy per problem and method: mean (SD) over repetitions, a 95 %
    Wilson interval over the scored treatments, and the paired test against the SAA baseline.

    Returns:
        The summary table and the same as Markdown (percent).
    """
    accuracy = accuracies(votes, None)
    comparisons = compare_to_baseline(accuracy, baseline_approach="BL")
    rows = []
    for (experiment, approach, target), group in votes.groupby(
            ["experiment", "approach", "target"], sort=False, observed=True):
        low, high = accuracy_interval(group)
        per_repetition = accuracy.loc[accuracy["experiment"] == experiment, "treatment_accuracy"]
        p = comparisons.loc[comparisons["experiment"] == experiment, "p_value"]
        rows.append({
            "target": target, "method": approach,
            "n_treatments": group["Metadata_Treatment"].nunique(),
            "repetitions": per_repetition.size,
            "accuracy_mean": per_repetition.mean(), "accuracy_sd": per_repetition.std(ddof=1),
            "ci95_low": low, "ci95_high": high,
            "p_vs_BL": float(p.iloc[0]) if len(p) else np.nan,
        })
    summary = pd.DataFrame(rows)
    lines = ["| problem | method | treatments | accuracy % mean (SD) | 95 % CI | p vs BL |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for row in summary.itertuples():
        sd = "" if np.isnan(row.accuracy_sd) else f" ({100 * row.accuracy_sd:.1f})"
        p = "" if np.isnan(row.p_vs_BL) else f"{row.p_vs_BL:.3f}"
        lines.append(f"| {row.target} | {row.method} | {row.n_treatments} | "
                     f"{100 * row.accuracy_mean:.1f}{sd} | {100 * row.ci95_low:.0f}–"
                     f"{100 * row.ci95_high:.0f} | {p} |")
    markdown = "\n".join(lines) + "\n"
    log_results(accuracies=accuracy, comparisons=comparisons, prefix="benchmark/",
                artifacts={"benchmark_summary.csv": summary, "benchmark_summary.md": markdown})
    return summary, markdown


def make_benchmark_figures(
    manifest: dict[str, Any],
    votes: pd.DataFrame,
    pset1_classes: list[str],
    pset2_classes: list[str],
    all12_classes: list[str],
) -> tuple[go.Figure, go.Figure]:
    """Accuracy per method and problem (mean ± SD over repetitions, chance = 1 / number of
    MOAs) and the treatment confusion matrices of every method (summed over repetitions), both
    protocols."""
    classes = {"Pset1": pset1_classes, "Pset2": pset2_classes, "all12": all12_classes}
    by_target = {t: classes[_problem(t)] for t in dict.fromkeys(votes["target"].astype(str))}
    confusions = pd.concat([confusion_matrices(votes[votes["target"].astype(str) == t], c)
                            for t, c in by_target.items()], ignore_index=True)
    label = manifest["description"]
    return (accuracy_comparison(accuracies(votes, None),
                                "Benchmark — treatment accuracy, leave one compound out",
                                source_label=label,
                                chance={t: 1.0 / len(c) for t, c in by_target.items()}),
            confusion_heatmaps(confusions, by_target, source_label=label))


def make_benchmark_report(
    manifest: dict[str, Any],
    summary: pd.DataFrame,
    accuracy_figure: go.Figure,
    confusion_figure: go.Figure,
    saa: dict[str, Any],
    params: dict[str, Any],
) -> str:
    """One self-contained HTML page: the data source first, then the summary table and figures."""
    table = summary.assign(**{c: 100.0 * summary[c] for c in
                              ("accuracy_mean", "accuracy_sd", "ci95_low", "ci95_high")})
    html = render_report(
        title="Benchmark — every method under NSC and NSCB (treatment accuracy, %)",
        data_source=manifest,
        sections=[("Summary (accuracy in %; p: paired t-test against BL over repetitions)", table),
                  ("Accuracy per method and problem", accuracy_figure),
                  ("Confusion matrices (treatments, summed over repetitions)", confusion_figure)],
        provenance=provenance({"saa": saa, "benchmark": params},
                              seeds={"saa": saa.get("seed"), "benchmark": params.get("seed")}),
    )
    log_results(artifacts={"benchmark_report.html": html})
    return html
