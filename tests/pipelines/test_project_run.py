"""The whole default pipeline through a Kedro session, on a tiny synthetic configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

TINY = {
    "data_source": {"synthetic": {"n_cells": 1500, "seed": 3}},
    "saa": {"hidden_units": [16, 16, 16, 16, 16, 16, 16], "pretrain_epochs": 1,
            "finetune_max_epochs": 4, "batch_size": 64},
    "loocv": {"n_repetitions": 2},
    "transfer": {"approaches": "BL DTL_1"},
    "baselines": {"methods": {"svm_linear": {"C": [1.0]}}},
}

pytestmark = pytest.mark.slow


def _run(project: Path, pipeline: str | None = None, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run(pipeline_names=[pipeline] if pipeline else None, **kwargs)


def test_default_pipeline_end_to_end(project_copy: Path) -> None:
    _run(project_copy)
    reporting = project_copy / "data" / "08_reporting"
    report = (reporting / "report.md").read_text().splitlines()
    assert "SYNTHETIC" in report[0]
    assert "SYNTHETIC" in (reporting / "report.html").read_text()

    table1 = pd.read_csv(reporting / "table1.csv")
    assert len(table1) == 4  # BL and DTL_1, in both directions
    accuracies = pd.read_parquet(project_copy / "data" / "07_model_output" / "accuracies.parquet")
    assert accuracies["repetition"].nunique() == 2
    assert accuracies["treatment_accuracy"].between(0, 1).all()
    manifest = json.loads((project_copy / "data" / "01_raw" / "manifest.json").read_text())
    assert manifest["synthetic"] is True


def test_transfer_before_data_names_what_to_run(project_copy: Path) -> None:
    with pytest.raises(Exception, match="kedro run --pipelines="):
        _run(project_copy, "transfer")


def test_registry_lists_pipelines_and_viz_builds(project_copy: Path) -> None:
    kedro = [sys.executable, "-m", "kedro"]
    listed = subprocess.run([*kedro, "registry", "list"], cwd=project_copy, capture_output=True,
                            text=True, check=True).stdout
    for name in ("ingestion", "psets", "pretraining", "transfer", "evaluation", "reporting",
                 "__default__"):
        assert name in listed
    subprocess.run([*kedro, "viz", "build"], cwd=project_copy, capture_output=True, check=True,
                   timeout=300)
    assert (project_copy / "build" / "index.html").exists()
