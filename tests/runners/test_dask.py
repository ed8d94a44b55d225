"""The project's DaskRunner on a toy pipeline: same outputs as SequentialRunner, units in worker
processes, fan-in nodes in the driver, worker errors named, clusters closed."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from hca_dtl.runners import DaskRunner, DaskSettings, NodeFailedError, UnitDatasetError
from hca_dtl.runners.dask import slurm_options

from toy_nodes import combine, cube, fail, prepare, square



def _pipeline(unit_tags: tuple[str, ...] = ("unit",)) -> Pipeline:
    return Pipeline([
        Node(prepare, "params:n", "numbers", name="prepare"),  # in memory: sent to units by value
        Node(square, ["numbers", "params:offset"], "part_1", name="square", tags=unit_tags),
        Node(cube, "numbers", "part_2", name="cube", tags=unit_tags),
        Node(combine, ["part_1", "part_2"], "total", name="combine"),
    ])


PIPELINE = _pipeline()


def _catalog(folder: Path, dask: dict | None = None) -> DataCatalog:
    catalog = DataCatalog({name: JSONDataset(filepath=str(folder / f"{name}.json"))
                           for name in ("part_1", "part_2", "total")})
    catalog["params:n"] = 5
    catalog["params:offset"] = 3
    catalog["parameters"] = {"n": 5, "offset": 3, "dask": dask or {}}
    return catalog


def _no_worker_processes_left() -> bool:
    return not multiprocessing.active_children()


def test_settings_are_checked_and_gpu_units_ask_for_a_gpu() -> None:
    with pytest.raises(ValueError, match="Unknown DaskSettings key"):
        DaskRunner(workers=2).settings(_catalog(Path(".")))
    with pytest.raises(ValueError, match="dask.address is not set"):
        DaskSettings(cluster="address")
    settings = DaskSettings(cluster="slurm", gpus_per_worker=1, unit_tags="unit,train",
                            slurm={"cores": 4, "memory": "16GiB", "job_extra_directives": ["-C a100"]})
    assert settings.unit_tags == ("unit", "train")
    gpu_unit = Node(cube, "numbers", "part_2", name="cube", tags=["unit", "gpu"])
    assert settings.resources(gpu_unit) == {"GPU": 1}
    assert DaskSettings().resources(gpu_unit) is None  # workers offer no GPU: runs anywhere
    options = slurm_options(settings)
    assert options["processes"] == 4  # one single-threaded worker per core
    assert options["job_extra_directives"] == ["-C a100", "--gres=gpu:4"]
    assert options["worker_extra_args"] == ["--resources", "GPU=1"]


@pytest.mark.slow
def test_same_outputs_as_sequential_units_on_workers(tmp_path: Path) -> None:
    SequentialRunner().run(PIPELINE, sequential := _catalog(tmp_path / "sequential"))
    DaskRunner(n_workers=2).run(PIPELINE, dask := _catalog(tmp_path / "dask"))

    for name in ("part_1", "part_2"):
        assert dask.load(name)["values"] == sequential.load(name)["values"]
    assert dask.load("total")["total"] == sequential.load("total")["total"] == 30 + 15 + 100
    unit_pids = {dask.load("part_1")["pid"], dask.load("part_2")["pid"]}
    assert os.getpid() not in unit_pids  # units ran in worker processes ...
    assert dask.load("total")["pid"] == os.getpid()  # ... the fan-in node in the driver
    assert _no_worker_processes_left()


@pytest.mark.slow
def test_settings_from_parameters_on_a_given_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster:
        catalog = _catalog(tmp_path, dask={"cluster": "address", "address": cluster.scheduler_address})
        DaskRunner().run(PIPELINE, catalog)
        assert catalog.load("total")["total"] == 145
        with Client(cluster) as client:  # the runner did not close a cluster it did not create
            assert len(client.scheduler_info()["workers"]) == 1


@pytest.mark.slow
def test_worker_error_names_the_node(tmp_path: Path) -> None:
    failing = PIPELINE.filter(node_names=["prepare", "square"]) + Pipeline(
        [Node(fail, "numbers", "part_2", name="fail_on_worker", tags=["unit"])])
    with pytest.raises(NodeFailedError, match="fail_on_worker") as raised:
        DaskRunner(n_workers=2).run(failing, _catalog(tmp_path))
    original = raised.value.__cause__
    assert isinstance(original, ValueError) and "cannot handle 5 numbers" in str(original)
    assert "in fail" in "".join(traceback.format_exception(original))  # the worker's traceback
    assert _no_worker_processes_left()


def test_memory_output_of_a_unit_is_refused(tmp_path: Path) -> None:
    pipeline = Pipeline([Node(prepare, "params:n", "numbers", name="prepare", tags=["unit"])])
    with pytest.raises(UnitDatasetError, match="'numbers'.*'prepare'"):
        DaskRunner(n_workers=2).run(pipeline, _catalog(tmp_path))


@pytest.mark.slow
def test_units_chosen_by_name_pattern_and_untagged_pipelines_stay_in_the_driver(
        tmp_path: Path) -> None:
    untagged = _pipeline(unit_tags=())
    DaskRunner(n_workers=1).run(untagged, catalog := _catalog(tmp_path / "untagged"))
    assert catalog.load("part_1")["pid"] == os.getpid()  # no unit: everything in the driver

    DaskRunner(n_workers=1, unit_nodes=["squ*"]).run(untagged, catalog := _catalog(tmp_path / "named"))
    assert catalog.load("part_1")["pid"] != os.getpid()
    assert catalog.load("part_2")["pid"] == os.getpid()
