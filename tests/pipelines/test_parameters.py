"""Parameters are checked before anything runs, in every section; an environment's ``{}`` replaces
the base value as written."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hca_dtl.config_loader import ProjectConfigLoader
from hca_dtl.pipelines.grid import check_output_layers, experiment_grid
from hca_dtl.pipelines.parameters import ParameterError, validate_parameters

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def load(env: str | None = None) -> dict:
    loader = ProjectConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), env=env, base_env="base",
                                 default_run_env="local", merge_strategy={"parameters": "soft"})
    return loader["parameters"]


@pytest.fixture(scope="module")
def base() -> dict:
    return load()


def changed(params: dict, path: str, value) -> dict:
    params = copy.deepcopy(params)
    *parents, last = path.split(".")
    node = params
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return params


@pytest.mark.parametrize("env", [None, "paper", "bbbc021_wells"])
def test_every_shipped_environment_is_valid(env) -> None:
    params = load(env)
    validate_parameters(params)
    assert experiment_grid(params).units


def test_benchmark_approaches_select_units_by_method_name() -> None:
    params = load("bbbc021_wells")
    params["benchmark"]["approaches"] = "1-NN logistic_regression MLP"
    units = experiment_grid(params).of("benchmark")
    assert {u.method.name for u in units} == {"NSC 1-NN", "NSCB 1-NN", "logistic_regression", "MLP"}
    assert len(units) == 4 * 3 * 2 - 2 * 3  # one 1-NN per protocol, the others under both
    params["benchmark"]["problems"] = "Pset1 Pset2"  # as --params gives it
    assert {u.problem for u in experiment_grid(params).of("benchmark")} == {"Pset1", "Pset2"}


def test_the_paper_profile_trains_one_network_per_fold_and_one_repetition_per_unit() -> None:
    """The quick profile's three members per fold must not leak into the paper's (an env merges
    into base key by key)."""
    loocv = load("paper")["loocv"]
    assert (loocv["members"], loocv["n_repetitions"], loocv["repetitions_per_unit"]) == (1, 10, 1)


@pytest.mark.parametrize("path, value, message", [
    ("transfer.aproaches", "BL", r"Unknown transfer key\(s\) \['aproaches'\]; known: \['directions'"),
    ("loocv.n_repetitons", 2, r"loocv: Unknown LOOCVConfig key\(s\) \['n_repetitons'\]"),
    ("benchmark.setings", {}, r"Unknown benchmark key\(s\) \['setings'\]"),
    ("benchmark.approaches", "BL SVM", r"benchmark.approaches: unknown \['SVM'\]; choose among \['1-NN'"),
    ("tranfer", {}, r"unknown parameter section\(s\) \['tranfer'\]"),
    ("transfer.settings.DTL_1", "[0000002a]", "only 0/1 digits"),
    ("transfer.settings.DTL_1", "[00]", r"transfer.settings.DTL_1: Transfer mask '\[00\]' must be 8"),
    ("transfer.settings.DTL_1", [9], "octal number 9.*quote"),  # YAML's unquoted [00000011]
    ("transfer.settings.DTL_1", {"mask": "[00000011]", "learner": "svm"}, "Unknown learner 'svm'"),
    ("psets.pset1", ["Epithelial", "Epithelial", "Actin disruptors"], r"lists \['Epithelial'\] more than once"),
    ("saa.hidden_units", [], "hidden_units"),
    ("loocv.selection", "test_accuracy", "selection must be one of"),
    ("baselines.methods.svm_linear.C", [0.1, 1.0], r"write a grid as \{candidates"),
    ("baselines.twelve_class", ["XYZ"], r"baselines.twelve_class: unknown \['XYZ'\]"),
])
def test_a_bad_parameter_fails_before_anything_runs(base, path, value, message) -> None:
    with pytest.raises(ParameterError, match=message):
        validate_parameters(changed(base, path, value))


def test_every_problem_is_listed_together(base) -> None:
    params = changed(changed(base, "loocv.seed", "zero"), "saa.batch_size", 0)
    params = changed(params, "source_training.seeds", 1)
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    text = str(error.value)
    assert "saa:" in text and "source_training: unknown key(s) ['seeds']" in text


def test_a_mask_must_fit_every_candidate_network(base) -> None:
    params = changed(base, "saa.hidden_units", {"candidates": [[8] * 7, [8] * 3]})
    with pytest.raises(ParameterError, match=r"must be 4 binary digits"):
        validate_parameters(params)


def test_output_layer_transfer_needs_as_many_mois_by_position() -> None:
    six = [f"m{i}" for i in range(6)]
    check_output_layers({"Pset1": six, "Pset2": [f"n{i}" for i in range(6)]},
                        {"transfer": {"settings": {"DTL_1": "[00000011]"}}})
    with pytest.raises(ValueError, match=r"DTL_1.*Pset1 \(5 MOAs\) and Pset2 \(7 MOAs\)"):
        check_output_layers({"Pset1": six[:5], "Pset2": [f"n{i}" for i in range(7)]},
                            {"transfer": {"settings": {"DTL_1": "[00000011]"}}})
    # A mask ending in 0 keeps a fresh output layer: any counts do.
    check_output_layers({"Pset1": six[:5], "Pset2": six}, {"transfer": {"settings": {"X": "[00000010]"}}})


def test_an_environment_empty_mapping_replaces_the_base_value(base) -> None:
    wells = load("bbbc021_wells")
    # The base file gives logistic regression a C grid; the real-data env writes {} to use the
    # method's defaults — a plain soft merge would have kept the base grid.
    assert base["benchmark"]["methods"]["logistic_regression"] != {}
    assert wells["benchmark"]["methods"]["logistic_regression"] == {}
    # ... while a key the env does not name keeps its base value (soft merge).
    assert wells["saa"]["reconstruction_loss"] == base["saa"]["reconstruction_loss"]
    assert wells["loocv"]["engine"] == base["loocv"]["engine"]
