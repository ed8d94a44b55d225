"""A reduced real-data benchmark (issue: real BBBC021 well profiles) through a Kedro session:
one repetition on the 12-class problem, every method (transfer settings included), accuracy far
above chance (1/12)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

pytestmark = pytest.mark.slow


def test_reduced_wells_benchmark(project_copy: Path, shared_data: Path) -> None:
    bbbc021 = shared_data / "bbbc021"
    params = {
        "data_source": {"files": {
            "export": str(bbbc021 / "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"),
            "image_metadata": str(bbbc021 / "BBBC021_v1_image.csv.gz"),
            "moa_metadata": str(bbbc021 / "BBBC021_v1_moa.csv"),
        }},
        "saa": {"hidden_units": [16] * 7, "pretrain_epochs": 1, "finetune_max_epochs": 5},
        "benchmark": {"n_repetitions": 1, "protocols": ["NSC", "NSCB"], "problems": ["all12"],
                      "methods": {"logistic_regression": {"C": [1.0]}}},
    }
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy, env="bbbc021_wells",
                             runtime_params=params) as session:
        session.run(pipeline_names=["ingestion", "psets", "pretraining", "benchmark"])

    reporting = project_copy / "data" / "bbbc021_wells" / "08_reporting"
    summary = pd.read_csv(reporting / "benchmark_summary.csv")
    nsc = summary[summary["target"] == "all12"].set_index("method")
    assert nsc.loc["NSC 1-NN", "n_treatments"] == 103
    assert nsc.loc["NSC 1-NN", "accuracy_mean"] > 0.5          # chance: 1/12
    assert nsc.loc["logistic_regression", "accuracy_mean"] > 0.5
    nscb = summary[summary["target"] == "all12 NSCB"].set_index("method")
    # Treatments of MOAs imaged only in the held-out compound's weeks cannot be scored.
    assert nscb.loc["NSCB 1-NN", "n_treatments"] < 103
    assert {"MLP", "BL", "DTL_1+PT"} <= set(nsc.index)
    votes = pd.read_parquet(project_copy / "data" / "bbbc021_wells" / "07_model_output"
                            / "benchmark_votes.parquet")
    # On 12 classes each fold transfers from the Pset model that never saw its compound.
    transferred = votes[(votes["approach"] == "DTL_1+PT") & (votes["target"] == "all12")]
    assert set(transferred["source"]) == {"Pset1|Pset2"}
    assert transferred["Metadata_Treatment"].nunique() == 103

    report = (reporting / "benchmark_report.html").read_text()
    assert "REAL data" in report and "SYNTHETIC" not in report
    figures = {name: json.loads(next((reporting / f"figure_benchmark_{name}.json").glob("*/*")).read_text())
               for name in ("accuracy", "confusion")}
    bars = {t["name"]: t for t in figures["accuracy"]["data"] if t["type"] == "bar"}
    assert bars["BL"]["x"] == ["all12", "all12 NSCB"]
    chance = next(t for t in figures["accuracy"]["data"] if t["type"] == "scatter")
    assert chance["y"] == pytest.approx([100 / 12, 100 / 12])
    heatmaps = [t for t in figures["confusion"]["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2 * len(nsc.index)  # every method under both protocols
    assert len(heatmaps[0]["x"]) == 12
