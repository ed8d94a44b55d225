"""hca_dtl.pipelines.tracking against a real MLflow SQLite store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _flatten_dict
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, _validate_metric_name

from hca_dtl.pipelines import tracking

ACCURACIES = pd.DataFrame({
    "experiment": ["BL Pset1", "BL Pset1", "DTL_1 Pset2→Pset1", "DTL_1 Pset2→Pset1"],
    "repetition": [0, 1, 0, 1],
    "treatment_accuracy": [0.5, 0.7, 0.75, 0.25],
    "cell_accuracy": [0.4, 0.6, 0.7, 0.2],
})
COMPARISONS = pd.DataFrame({"experiment": ["BL Pset1", "DTL_1 Pset2→Pset1"],
                            "p_seeds": [float("nan"), 0.42], "difference": [float("nan"), 0.1],
                            "difference_low": [float("nan"), -0.05],
                            "difference_high": [float("nan"), 0.25],
                            "p_compounds_holm": [float("nan"), 0.5]})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture
def run_id(store: str, tmp_path: Path):
    experiment = mlflow.create_experiment(tmp_path.name, artifact_location=tmp_path.as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        yield run.info.run_id


def test_metric_keys_are_valid_mlflow_names() -> None:
    key = tracking.metric_key("treatment_accuracy", "DTL_1+PT Pset2→Pset1 NSCB", "rep0")
    assert key == "treatment_accuracy/DTL_1_PT_Pset2_to_Pset1_NSCB/rep0"
    _validate_metric_name(key)  # raises if MLflow refuses it


def test_no_active_run_logs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking.active_run_id() is None
    tracking.log_results(accuracies=ACCURACIES, comparisons=COMPARISONS, artifacts={"a.md": "x"})
    assert list(tmp_path.iterdir()) == []  # no store, no mlruns folder


def test_results_logged_once(run_id: str) -> None:
    for _ in range(2):  # a second fan-in node seeing the same experiments adds nothing
        tracking.log_results(accuracies=ACCURACIES, comparisons=COMPARISONS,
                             artifacts={"table1.csv": ACCURACIES, "table1.md": "| a |"})
    client = MlflowClient()
    metrics = client.get_run(run_id).data.metrics
    assert metrics["treatment_accuracy/DTL_1_Pset2_to_Pset1/rep1"] == 0.25
    assert metrics["cell_accuracy/BL_Pset1/rep0"] == 0.4
    assert metrics["treatment_accuracy/BL_Pset1/mean"] == pytest.approx(0.6)
    assert metrics["p_seeds/DTL_1_Pset2_to_Pset1"] == 0.42
    assert metrics["p_compounds_holm/DTL_1_Pset2_to_Pset1"] == 0.5
    assert "p_seeds/BL_Pset1" not in metrics  # NaN: no test against itself
    assert len(client.get_metric_history(run_id, "treatment_accuracy/BL_Pset1/rep0")) == 1
    artifact = Path(client.download_artifacts(run_id, "table1.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(artifact), ACCURACIES)


def test_colliding_experiment_names_are_refused(run_id: str) -> None:
    clash = ACCURACIES.assign(experiment=["A+B", "A+B", "A B", "A B"])
    with pytest.raises(ValueError, match="'A\\+B' and 'A B'"):
        tracking.log_accuracies(clash)


def test_parameters_flattened_as_kedro_mlflow_does(run_id: str) -> None:
    parameters = {"saa": {"hidden_units": [32] * 7, "seed": 0}, "reporting": {},
                  "transfer": {"settings": {"BL": None, "DTL_1": "[00000011]"}},
                  "long": {"compounds": ["compound"] * 1000}}
    expected = {MlflowHook().sanitize_param_name(k): str(v)
                for k, v in _flatten_dict({"parameters": parameters}).items()}
    assert tracking.flat_parameters(parameters) == expected

    tracking.log_parameters(parameters)
    run = MlflowClient().get_run(run_id)
    assert run.data.params["parameters.saa.hidden_units"] == str([32] * 7)
    assert run.data.params["parameters.transfer.settings.BL"] == "None"
    assert len(run.data.tags["parameters.long.compounds"]) > MAX_PARAM_VAL_LENGTH  # a tag, whole
    assert "parameters.long.compounds" not in run.data.params
