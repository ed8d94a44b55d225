"""The default pipeline through the DaskRunner (2-worker LocalCluster), Kedro's ThreadRunner (2
threads: how `make run` runs it) and the SequentialRunner: the same Table 1, and every run tracked
in the project's MLflow store."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import ThreadRunner
from mlflow.tracking import MlflowClient

from hca_dtl.pipelines.tracking import metric_key
from hca_dtl.reporting.tables import ACCURACY, DIFFERENCE, P_COMPOUNDS, P_SEEDS
from hca_dtl.runners import DaskRunner

# The tiny configuration of tests/pipelines/test_project_run.py, with the RBF SVM baseline (which
# parameters merge in from conf/base) made small too: this module runs the pipeline twice.
TINY = {
    "data_source": {"synthetic": {"n_cells": 1500, "seed": 3}},
    "saa": {"hidden_units": [16, 16, 16, 16, 16, 16, 16], "pretrain_epochs": 1,
            "finetune_max_epochs": 4, "batch_size": 64},
    "loocv": {"n_repetitions": 2},
    "transfer": {"approaches": "BL DTL_1"},
    "baselines": {"methods": {"svm_linear": {"C": {"candidates": [1.0]}},
                              "svm_rbf": {"C": {"candidates": [1.0]}, "gamma": {"candidates": [0.001]},
                                          "train_fraction": 0.05}}},
    "dask": {"n_workers": 2},  # units: the nodes tagged `unit`
}
ACCURACY_COLUMNS = ["Approach", "Transfer", "PS", "PT", "C", "Repetitions", ACCURACY, P_SEEDS,
                    DIFFERENCE, P_COMPOUNDS]

pytestmark = pytest.mark.slow


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def runs(project_copies) -> dict[str, tuple[Path, list[str]]]:
    """Runs the default pipeline with each runner in its own project copy: {runner: (copy, log)}."""
    results = {}
    for name, runner in (("sequential", None), ("dask", DaskRunner()),
                         ("threads", ThreadRunner(max_workers=2))):
        project = project_copies(name)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(project)
            bootstrap_project(project)
            messages, logger = _Messages(), logging.getLogger("hca_dtl.runners.dask")
            with KedroSession.create(project_path=project, runtime_params=TINY) as session:
                logger.addHandler(messages)
                try:
                    session.run(runner=runner)
                finally:
                    logger.removeHandler(messages)
        results[name] = (project, messages.messages)
    return results


def _table1(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "data" / "08_reporting" / "table1.csv")


@pytest.mark.parametrize("runner", ["dask", "threads"])
def test_parallel_runners_give_the_sequential_table1(runs, runner: str) -> None:
    (sequential, _), (parallel, log) = runs["sequential"], runs[runner]
    if runner == "dask":
        on_workers = [message for message in log if "(worker pid" in message]
        assert any("transfer" in message for message in on_workers)  # the grid ran on workers
    pd.testing.assert_frame_equal(_table1(parallel)[ACCURACY_COLUMNS],
                                  _table1(sequential)[ACCURACY_COLUMNS])
    accuracies = [pd.read_parquet(p / "data" / "07_model_output" / "accuracies.parquet")
                  for p in (sequential, parallel)]
    pd.testing.assert_frame_equal(*accuracies)  # every experiment, every repetition


@pytest.mark.parametrize("runner", ["sequential", "dask", "threads"])
def test_run_is_tracked_in_the_sqlite_store(runs, runner: str) -> None:
    project, _ = runs[runner]
    client = MlflowClient(f"sqlite:///{project / 'data' / 'mlflow' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "hca_dtl"]
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["parameters.loocv.n_repetitions"] == "2"
    assert run.data.params["parameters.transfer.approaches"] == "BL DTL_1"
    table = _table1(project)
    experiments = pd.read_parquet(project / "data" / "07_model_output" / "transfer_accuracies.parquet")
    assert len(experiments["experiment"].unique()) == len(table)
    for experiment in experiments["experiment"].unique():  # one per Table 1 row
        for repetition in (0, 1):
            key = metric_key("treatment_accuracy", experiment, f"rep{repetition}")
            expected = experiments.loc[(experiments["experiment"] == experiment)
                                       & (experiments["repetition"] == repetition),
                                       "treatment_accuracy"].item()
            assert run.data.metrics[key] == pytest.approx(expected)
    assert "treatment_accuracy/BL_all12/mean" in run.data.metrics  # from evaluate_experiments
    logged = pd.read_csv(client.download_artifacts(run.info.run_id, "table1.csv"))
    pd.testing.assert_frame_equal(logged, table)
    assert {"report.html", "report.md", "table1.md"} <= {a.path for a in
                                                         client.list_artifacts(run.info.run_id)}
