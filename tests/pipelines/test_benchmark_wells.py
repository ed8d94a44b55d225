"""The real-data benchmark in a reduced form (one repetition, the 12-class problem, tiny networks)
through a Kedro session, under the nested protocol: far above chance (1/12), choices made inside
the folds and recorded, and no NSCB fold starting from a source network that saw its batches."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from hca_dtl.evaluation.loocv import FoldPlan
from hca_dtl.model import load_model

pytestmark = pytest.mark.slow


def test_reduced_wells_benchmark(project_copy: Path, shared_data: Path) -> None:
    bbbc021 = shared_data / "bbbc021"
    params = {
        "data_source": {"files": {
            "export": str(bbbc021 / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"),
            "image_metadata": str(bbbc021 / "BBBC021_v1_image.csv.gz"),
            "moa_metadata": str(bbbc021 / "BBBC021_v1_moa.csv"),
        }},
        "ingestion": {"normalization": "robust_z_pooled"},  # whitening: on / off, chosen per fold
        "saa": {"hidden_units": [16] * 7, "pretrain_epochs": 1, "finetune_max_epochs": 5,
                "patience_epochs": 5},
        "mlp": {"hidden_units": [16, 16], "max_epochs": 5, "patience_epochs": 5},
        "loocv": {"inner_folds": 2},
        "benchmark": {"problems": ["all12"],
                      "methods": {"logistic_regression": {"C": {"candidates": [0.01, 1.0]}},
                                  "svm_linear": {"C": {"candidates": [1.0]}},
                                  "svm_rbf": {"C": {"candidates": [10.0]},
                                              "gamma": {"candidates": [0.001]}}}},
    }
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy, env="bbbc021_wells",
                             runtime_params=params) as session:
        session.run(pipeline_names=["ingestion", "psets", "benchmark"])

    root = project_copy / "data" / "bbbc021_wells"
    summary = pd.read_csv(root / "08_reporting" / "benchmark_summary.csv")
    nsc = summary[summary["target"] == "all12"].set_index("method")
    assert nsc.loc["NSC 1-NN", "n_treatments"] == 103
    assert nsc.loc["NSC 1-NN", "accuracy_mean"] > 0.5          # chance: 1/12
    assert nsc.loc["logistic_regression", "accuracy_mean"] > 0.5
    nscb = summary[summary["target"] == "all12 NSCB"].set_index("method")
    # Treatments of MOAs imaged only in the held-out compound's weeks cannot be scored: left out,
    # and counted.
    assert nscb.loc["NSCB 1-NN", "n_treatments"] + nscb.loc["NSCB 1-NN", "n_unscorable"] == 103
    assert nscb.loc["BL", "n_unscorable"] > 0
    assert {"BL", "DTL_1", "DTL_4", "DTL_1+PT", "MLP", "MLP-T110", "MLP-T110-all12"} <= set(nsc.index)
    # Compound-level test against BL, Holm-adjusted over the table.
    assert nsc.loc["logistic_regression", ["difference_low", "difference_high"]].notna().all()
    assert summary["p_compounds_holm"].dropna().between(0, 1).all()

    # Every fold chose its normalisation (and C) on its own training compounds; the record says so.
    output = root / "07_model_output"
    choices = pd.read_parquet(output / "benchmark_choices.parquet")
    logistic = choices[choices["experiment"] == "logistic_regression all12"]
    assert set(logistic["selection"]) == {"inner_compounds"}
    assert logistic.groupby("fold")["chosen"].sum().eq(1).all() and logistic["fold"].nunique() == 38
    assert len(set(logistic["candidate"])) == 4  # 2 normalisations × 2 C

    # Which source network each NSCB fold actually started from: one that saw neither the held-out
    # compound nor any of its weeks.
    plan = FoldPlan.from_frame(pd.read_parquet(root / "05_model_input" / "all12_nscb_fold_plan.parquet"))
    banks = [load_model(next((root / "06_models" / "sources" / f"saa_other_for_{target}_nscb.keras").glob("*/*")))
             for target in ("pset1", "pset2")]
    networks = [n for bank in banks for n in bank.networks]
    transferred = choices[(choices["experiment"] == "DTL_1+PT Pset1|Pset2→all12 NSCB") & choices["chosen"]]
    assert len(transferred) == plan.n_folds
    batches = dict(zip(plan.fold_ids.tolist(), plan.held_out_batches))
    for row in transferred.itertuples():
        network = networks[row.source_network]
        assert row.held_out not in network.metadata["compounds"]
        assert not set(network.metadata["batches"]) & set(batches[row.fold]), row.held_out
        assert network.metadata["problem"] != "all12"
    assert transferred["source_network"].nunique() > 1  # different folds, different sources
    # From "all other compounds": each fold's network never saw its compound (nor, NSCB, its weeks).
    bank = load_model(next((root / "06_models" / "sources" / "mlp_all12_for_all12_nscb.keras").glob("*/*")))
    own = choices[(choices["experiment"] == "MLP-T110-all12 all12→all12 NSCB") & choices["chosen"]]
    for row in own.itertuples():
        network = bank.networks[row.source_network]
        assert row.held_out not in network.metadata["compounds"]
        assert not set(network.metadata["batches"]) & set(batches[row.fold])

    reporting = root / "08_reporting"
    headline = (reporting / "benchmark_headline.md").read_text()
    assert headline.startswith("Data: REAL data") and "| all12 NSCB |" in headline
    report = (reporting / "benchmark_report.html").read_text()
    assert "REAL data" in report and "SYNTHETIC" not in report
    assert "how often each candidate won" in report
    figures = {name: json.loads(next((reporting / f"figure_benchmark_{name}.json").glob("*/*")).read_text())
               for name in ("accuracy", "confusion")}
    bars = {t["name"]: t for t in figures["accuracy"]["data"] if t["type"] == "bar"}
    assert bars["BL"]["x"] == ["all12", "all12 NSCB"]
    chance = next(t for t in figures["accuracy"]["data"] if t["type"] == "scatter")
    assert chance["y"] == pytest.approx([100 / 12, 100 / 12])
    heatmaps = [t for t in figures["confusion"]["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2 * len(nsc.index)  # every method under both protocols
    assert len(heatmaps[0]["x"]) == 12
