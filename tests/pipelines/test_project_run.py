"""The whole default pipeline through a Kedro session, on a tiny synthetic configuration; the same
grid split into more units gives the same votes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from hca_dtl.reporting.tables import ACCURACY

TINY = {
    "data_source": {"synthetic": {"n_cells": 1500, "seed": 3}},
    "saa": {"hidden_units": [16, 16, 16, 16, 16, 16, 16], "pretrain_epochs": 1,
            "finetune_max_epochs": 4, "batch_size": 64},
    "loocv": {"n_repetitions": 2, "repetitions_per_unit": 2},
    "transfer": {"approaches": "BL DTL_1"},
    "baselines": {"methods": {"svm_linear": {"C": {"candidates": [0.1, 1.0]}}}},
}

pytestmark = pytest.mark.slow


def _run(project: Path, pipeline: str | None = None, params: dict | None = None, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params or TINY) as session:
        session.run(pipeline_names=[pipeline] if pipeline else None, **kwargs)


def test_default_pipeline_end_to_end_and_split_into_units(project_copy: Path) -> None:
    _run(project_copy)
    reporting = project_copy / "data" / "08_reporting"
    report = (reporting / "report.md").read_text().splitlines()
    assert "SYNTHETIC" in report[0]
    assert "SYNTHETIC" in (reporting / "report.html").read_text()
    manifest = json.loads((project_copy / "data" / "01_raw" / "manifest.json").read_text())
    assert manifest["synthetic"] is True

    # Table 1 is what the units voted: BL and DTL_1 in both directions, each accuracy the mean
    # over repetitions of the share of correct treatment votes.
    output = project_copy / "data" / "07_model_output"
    votes = pd.read_parquet(output / "transfer_votes.parquet")
    table1 = pd.read_csv(reporting / "table1.csv")
    assert sorted(zip(table1["Approach"], table1["PT"])) == [
        ("BL", "Pset1"), ("BL", "Pset2"), ("DTL_1", "Pset1"), ("DTL_1", "Pset2")]
    for row in table1.itertuples():
        mine = votes[(votes["approach"] == row.Approach) & (votes["target"] == row.PT)]
        assert mine["repetition"].nunique() == 2
        expected = 100 * mine.groupby("repetition")["correct"].mean().mean()
        assert float(table1.loc[row.Index, ACCURACY].split()[0]) == pytest.approx(expected, abs=0.006)
    units = sorted(p.name for p in (output / "campaigns" / "default" / "transfer").iterdir())
    assert units == ["pset1_nsc.bl.r0-1", "pset1_nsc.dtl_1.r0-1", "pset2_nsc.bl.r0-1",
                     "pset2_nsc.dtl_1.r0-1"]

    # The same grid as one unit per repetition, in another campaign: not a single vote changes.
    split = {**TINY, "loocv": {**TINY["loocv"], "repetitions_per_unit": 1}, "campaign": "units"}
    _run(project_copy, "transfer", params=split)
    again = pd.read_parquet(output / "transfer_votes.parquet")
    assert len(list((output / "campaigns" / "units" / "transfer").iterdir())) == 8
    key = ["experiment", "repetition", "Metadata_Treatment"]
    pd.testing.assert_frame_equal(votes.sort_values(key).reset_index(drop=True),
                                  again.sort_values(key).reset_index(drop=True))
    assert np.isfinite(votes["vote_share"]).all()

    # A real-data ingestion that fails after its raw manifest was written cannot relabel the
    # synthetic results: the report takes its label from the cells' own ingestion report.
    broken = project_copy / "data" / "01_raw" / "broken.csv"
    broken.write_text("Image_Metadata_Plate,Image_Metadata_Well,Cells_AreaShape_Area\n")
    real = {"data_source": {"kind": "files", "files": {
        "export": str(broken), "image_metadata": str(broken), "moa_metadata": str(broken),
        "description": "real data: a lab's export"}}}
    with pytest.raises(Exception):
        _run(project_copy, "ingestion", params=real)
    assert json.loads((project_copy / "data" / "01_raw" / "manifest.json").read_text())["synthetic"] is False
    _run(project_copy, "reporting", params=TINY)
    first_line = (reporting / "report.md").read_text().splitlines()[0]
    assert "SYNTHETIC" in first_line and "real data" not in first_line


def test_transfer_before_data_names_what_to_run(project_copy: Path) -> None:
    with pytest.raises(Exception, match="kedro run --pipelines="):
        _run(project_copy, "transfer")


def test_registry_lists_pipelines_and_units_and_viz_builds(project_copy: Path) -> None:
    kedro = [sys.executable, "-m", "kedro"]
    listed = subprocess.run([*kedro, "registry", "list"], cwd=project_copy, capture_output=True,
                            text=True, check=True).stdout
    for name in ("ingestion", "psets", "source_models", "transfer", "baselines", "reporting",
                 "benchmark", "predict", "pretraining", "evaluation", "__default__",
                 "transfer.pset1_nsc.bl.r0-1", "transfer.pset2_nsc.dtl_4.r0-1",
                 "benchmark.all12_nscb.nscb_1_nn.r0-1"):
        assert f"- {name}\n" in listed, name
    subprocess.run([*kedro, "viz", "build"], cwd=project_copy, capture_output=True, check=True,
                   timeout=300)
    assert (project_copy / "build" / "index.html").exists()
