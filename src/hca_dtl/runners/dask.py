"""A Kedro 1.7 runner that sends independent units of work to Dask workers.

``kedro run --runner=hca_dtl.runners.DaskRunner`` runs every node tagged ``unit`` (or matched by
name, see ``DaskSettings``) on a Dask worker as soon as the nodes it depends on are done, and every
other node (fan-in nodes: tables, figures, MLflow logging) in the driver process, in dependency
order, as soon as its inputs are ready. The cluster is a ``LocalCluster`` by default, any running
cluster given by its scheduler address, or a ``dask_jobqueue.SLURMCluster``.

Settings come from the run's parameters, section ``dask`` (``conf/base/parameters_dask.yml``;
override per environment or with ``--params dask.cluster=slurm``), then from the runner's keyword
arguments (``--runner-params cluster=address,address=tcp://host:8786`` or ``DaskRunner(...)`` in
code), which take precedence. Parameters, not environment variables, because Kedro builds the runner
with no arguments before it reads configuration, and parameters are per environment, overridable on
the command line and recorded with the run (MLflow). Dask's own configuration (``DASK_*`` variables,
``~/.config/dask``) still applies to what is not set here, e.g. ``jobqueue.slurm`` defaults.

What a unit needs:

- Workers are fresh processes (Dask nannies spawning them; nothing is forked from a process that
  imported TensorFlow), each running ``threads_per_worker`` (default 1) task at a time. Nannies
  also set ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` in workers (Dask's ``distributed.nanny.
  pre-spawn-environ``): right for one worker per core; change it there for wide workers.
- The node and its persisted datasets are pickled to the worker, which loads the inputs and saves
  the outputs itself; workers must see the project directory at the same path (a shared
  filesystem on a cluster). Parameters and other in-memory inputs are sent by value. An output of a
  unit must be persisted: a ``MemoryDataset`` cannot come back from another process
  (``UnitDatasetError`` names it).
- Kedro hooks do not run on workers (no ``before/after_node_run`` or dataset hooks for units); they
  run as usual for the driver's nodes and for the pipeline (kedro-mlflow's run and parameters).
- A failure on a worker is raised in the driver as ``NodeFailedError`` naming the node, chained to
  the original exception and its remote traceback. A cluster created by the runner is closed at the
  end, also on error or Ctrl-C.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from itertools import chain
from typing import TYPE_CHECKING, Any

import cloudpickle
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

from hca_dtl.config import config_from_dict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client, Future
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

CLUSTERS = ("local", "address", "slurm")


class NodeFailedError(RuntimeError):
    """A node failed on a Dask worker (the original exception is the ``__cause__``)."""


class UnitDatasetError(ValueError):
    """A unit node cannot run on a worker as its datasets are configured."""


def _names(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A list from YAML, or a comma/space-separated string from ``--params``."""
    return tuple(value.replace(",", " ").split()) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class DaskSettings:
    """The ``dask`` parameters section (documented in ``conf/base/parameters_dask.yml``)."""

    cluster: str = "local"                 # local | address | slurm
    address: str | None = None             # scheduler address, for cluster: address
    n_workers: int | None = None           # worker processes; None: one per core (local), one job (slurm)
    threads_per_worker: int = 1            # tasks a worker runs at once
    unit_tags: tuple[str, ...] = ("unit",)  # nodes with any of these tags run on workers ...
    unit_nodes: tuple[str, ...] = ()       # ... and nodes whose name matches one of these globs
    gpu_tags: tuple[str, ...] = ("gpu",)   # units with these tags need one GPU (if gpus_per_worker)
    gpus_per_worker: int = 0               # GPUs each worker offers (Dask resource "GPU")
    worker_timeout_s: float = 600.0        # how long to wait for the first worker to join
    slurm: dict[str, Any] = field(default_factory=dict)  # dask_jobqueue.SLURMCluster arguments

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise ValueError(f"dask.cluster is {self.cluster!r}; choose one of {CLUSTERS}.")
        if self.cluster == "address" and not self.address:
            raise ValueError("dask.cluster is 'address' but dask.address is not set.")
        for name in ("unit_tags", "unit_nodes", "gpu_tags"):
            object.__setattr__(self, name, _names(getattr(self, name)))

    def is_unit(self, node: Node) -> bool:
        return bool(node.tags & set(self.unit_tags)) or any(
            fnmatch(node.name, pattern) for pattern in self.unit_nodes)

    def resources(self, node: Node) -> dict[str, int] | None:
        """The Dask resources a unit asks for: one GPU if tagged so and workers offer GPUs."""
        return {"GPU": 1} if self.gpus_per_worker and node.tags & set(self.gpu_tags) else None


def _run_unit(node: Node, datasets: dict[str, Any], values: dict[str, Any],
              project_dir: str) -> tuple[int, float]:
    """On a worker: loads the unit's inputs, runs it, saves its outputs. Returns (pid, seconds)."""
    start = time.perf_counter()
    if not os.path.isdir(project_dir):
        raise FileNotFoundError(f"Project directory {project_dir} is not visible on this worker "
                                "(workers need the project on a shared filesystem).")
    os.chdir(project_dir)  # catalog paths are relative to the project root
    inputs = {name: values[name] if name in values else datasets[name].load()
              for name in node.inputs}
    for name, data in node.run(inputs).items():
        datasets[name].save(data)
    return os.getpid(), time.perf_counter() - start


def slurm_options(settings: DaskSettings) -> dict[str, Any]:
    """``dask_jobqueue.SLURMCluster`` arguments: ``settings.slurm``, this Python, one worker
    process per ``threads_per_worker`` cores of a job, and GPUs (``--gres``, the workers' Dask
    resource) when ``gpus_per_worker`` is set."""
    options = {"python": sys.executable, **settings.slurm}
    if "cores" in options:
        options.setdefault("processes", max(1, options["cores"] // settings.threads_per_worker))
    if settings.gpus_per_worker:
        gpus = settings.gpus_per_worker * options.get("processes", 1)
        options["job_extra_directives"] = [*options.get("job_extra_directives", []),
                                           f"--gres=gpu:{gpus}"]
        options["worker_extra_args"] = [*options.get("worker_extra_args", []),
                                        "--resources", f"GPU={settings.gpus_per_worker}"]
    return options


@contextmanager
def _client(settings: DaskSettings) -> Iterator[Client]:
    """A client on the configured cluster; a cluster it creates is closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    resources = {"GPU": settings.gpus_per_worker} if settings.gpus_per_worker else None
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        if settings.cluster == "local":
            cluster = LocalCluster(n_workers=settings.n_workers or os.cpu_count(),
                                   threads_per_worker=settings.threads_per_worker,
                                   processes=True, resources=resources)
        elif settings.cluster == "slurm":
            from dask_jobqueue import SLURMCluster

            options = slurm_options(settings)
            cluster = SLURMCluster(**options)
            cluster.scale(n=settings.n_workers or options.get("processes", 1))
        client = Client(cluster if cluster is not None else settings.address)
    try:
        try:
            client.wait_for_workers(1, timeout=settings.worker_timeout_s)
        except TimeoutError as error:
            raise RuntimeError(f"No Dask worker joined the {settings.cluster} cluster within "
                               f"{settings.worker_timeout_s:.0f} s (Slurm: see squeue and the "
                               "job logs).") from error
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class DaskRunner(AbstractRunner):
    """Runs unit nodes on Dask workers and the other nodes in the driver (module docstring)."""

    def __init__(self, is_async: bool = False, **settings: Any):
        """``settings``: fields of ``DaskSettings``, overriding the ``dask`` parameters."""
        super().__init__(is_async=is_async)
        self._overrides = settings

    def _get_executor(self, max_workers: int) -> None:
        return None  # the Dask client is the executor; see _run

    def settings(self, catalog: CatalogProtocol) -> DaskSettings:
        """The ``dask`` parameters of the run, overridden by the runner's keyword arguments."""
        params = catalog.load("parameters") if "parameters" in catalog else {}
        return config_from_dict(DaskSettings, {**(params.get("dask") or {}), **self._overrides})

    def _run(self, pipeline: Pipeline, catalog: CatalogProtocol,
             hook_manager: PluginManager | None = None, run_id: str | None = None) -> None:
        settings = self.settings(catalog)
        units = {node for node in pipeline.nodes if settings.is_unit(node)}
        for node in units:
            _check_unit(node, catalog)
        self._logger.info("Dask: %d of %d nodes run on %s workers.", len(units),
                          len(pipeline.nodes), settings.cluster)
        if not units:
            return super()._run(pipeline, catalog, hook_manager, run_id)  # sequential, no cluster
        order = {node: i for i, node in enumerate(pipeline.nodes)}  # a topological order
        parents = pipeline.node_dependencies
        load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        todo, done, running = set(pipeline.nodes), set(), {}

        def completed(node: Node, where: str) -> None:
            done.add(node)
            self._release_datasets(node, catalog, load_counts, pipeline)
            self._logger.info("Completed node: %s (%s)", node.name, where)
            self._logger.info("Completed %d out of %d tasks", len(done), len(pipeline.nodes))

        with _client(settings) as client:
            try:
                while todo or running:
                    ready = sorted((n for n in todo if parents[n] <= done), key=order.__getitem__)
                    for node in (n for n in ready if n in units):
                        todo.remove(node)
                        running[_submit(client, node, catalog, settings)] = node
                    local = next((n for n in ready if n not in units), None)
                    if local is not None:  # one at a time: units it unblocks are submitted first
                        todo.remove(local)
                        Task(node=local, catalog=catalog, hook_manager=hook_manager,
                             is_async=self._is_async, run_id=run_id).execute()
                        completed(local, "driver")
                    for node, (pid, seconds) in _finished(running, catalog, block=local is None):
                        completed(node, f"worker pid {pid}, {seconds:.1f} s")
            except BaseException:
                client.cancel(list(running))
                self._suggest_resume_scenario(pipeline, done, catalog)
                raise


def _submit(client: Client, node: Node, catalog: CatalogProtocol, settings: DaskSettings) -> Future:
    """Sends a unit to the cluster: persisted datasets as objects, in-memory inputs by value."""
    datasets = {name: catalog.get(name) for name in (*node.inputs, *node.outputs)}
    values = {name: catalog.load(name) for name in node.inputs if datasets[name]._EPHEMERAL}
    persisted = {name: ds for name, ds in datasets.items() if name not in values}
    return client.submit(_run_unit, node, persisted, values, os.getcwd(), pure=False,
                         key=f"{node.name}-{os.urandom(4).hex()}", resources=settings.resources(node))


def _finished(running: dict[Future, Node], catalog: CatalogProtocol,
              block: bool) -> list[tuple[Node, tuple[int, float]]]:
    """Units that have finished (waiting for one first if ``block``), with (pid, seconds).

    Raises:
        NodeFailedError: a unit failed on its worker (chained to the worker's exception).
    """
    from distributed import wait

    if block and running:
        wait(list(running), return_when="FIRST_COMPLETED")
    finished = []
    for future in [f for f in running if f.done()]:
        node = running.pop(future)
        try:
            result = future.result()
        except Exception as error:
            raise NodeFailedError(f"Node {node.name!r} failed on a Dask worker: "
                                  f"{type(error).__name__}: {error}") from error
        for name in node.outputs:
            catalog.release(name)  # the worker saved a new version: forget cached versions
        for name in node.confirms:
            catalog.confirm(name)
        finished.append((node, result))
    return finished


def _check_unit(node: Node, catalog: CatalogProtocol) -> None:
    """Raises ``UnitDatasetError`` if ``node`` cannot run on a worker as configured."""
    if inspect.isgeneratorfunction(node.func):
        raise UnitDatasetError(f"Node {node.name!r} is a generator; units must return outputs.")
    for name in node.outputs:
        if catalog.get(name)._EPHEMERAL:
            raise UnitDatasetError(
                f"Dataset {name!r}, output of unit node {node.name!r}, is a MemoryDataset: it "
                "cannot come back from a Dask worker. Give it a persisted catalog entry.")
    try:
        cloudpickle.dumps((node, [catalog.get(name) for name in (*node.inputs, *node.outputs)]))
    except Exception as error:
        raise UnitDatasetError(f"Node {node.name!r} or one of its datasets cannot be pickled "
                               f"for a Dask worker: {error}") from error
