"""Project hooks: one run at a time per data root, the grid read through the run's config loader,
a clear message when a pipeline's inputs are missing or unreadable, and every parameter of the
run logged to its MLflow run."""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from hca_dtl.data.files import sweep_stale_temporaries
from hca_dtl.data.lock import RunLock

logger = logging.getLogger(__name__)


class RunLockHooks:
    """Holds a ``RunLock`` on the run's data root from the start of a run to its end (success or
    error), and first removes the temporary files that killed runs left under it.

    The lock is taken in a wrapper around every ``before_pipeline_run`` hook, so it is released
    even when a later one (e.g. the inputs check) fails; a second run fails before any of them.
    The data root is ``data_root`` of the run environment's ``globals.yml``, relative to the
    project folder.
    """

    def __init__(self) -> None:
        self.data_root: Path | None = None
        self._lock: RunLock | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.data_root = Path(context.project_path) / context.config_loader["globals"]["data_root"]

    def lock_scope(self, pipeline: Any, catalog: Any) -> Path:
        """The folder this run locks, given what it runs: the whole data root, since pipelines
        read what others write — except a run of units only (every node tagged ``unit``, e.g. one
        task of a Slurm job array: ``kedro run --pipelines=<unit namespace>``) whose outputs all
        lie in one folder (its campaign unit folder, or one versioned model's folder): it locks
        that folder, so that such tasks run side by side, and checks that no whole-root run
        holds the data root. Every dataset the run writes counts, also one it reads back itself
        (a source bank trained and used in the same run)."""
        if not pipeline.nodes or not all("unit" in node.tags for node in pipeline.nodes):
            return self.data_root
        folders = set()
        for name in pipeline.all_outputs():
            dataset = catalog.get(name)
            path = Path(str(getattr(dataset, "_filepath", "")))
            folders.add(path if getattr(dataset, "_version", None) is not None else path.parent)
        if len(folders) != 1:
            return self.data_root
        RunLock(self.data_root).check_free()
        return Path(folders.pop())

    @hook_impl(wrapper=True)
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> Generator[None, None, None]:
        self._lock = RunLock(self.lock_scope(pipeline, catalog))
        self._lock.acquire()
        try:
            for path in sweep_stale_temporaries(self.data_root):
                logger.warning("Removed %s, left by a run that was killed while writing it", path)
            return (yield)
        except BaseException:
            self._release()
            raise

    @hook_impl(wrapper=True)
    def after_pipeline_run(self) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            self._release()

    @hook_impl(wrapper=True)
    def on_pipeline_error(self) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


ALIASES = ("pretraining", "evaluation")  # former pipeline names (hca_dtl.pipeline_registry)


class GridConfigHooks:
    """Hands the session's config loader to the registry (``hca_dtl.pipelines.grid``) before
    Kedro first asks for the pipelines, so that ``--env`` and ``--params`` shape the grid; a
    session with other parameters than the last one makes Kedro load the pipelines anew."""

    def __init__(self) -> None:
        self._parameters: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from kedro.framework.project import pipelines

        from hca_dtl.pipelines import grid

        grid.use_config_loader(context.config_loader)
        parameters = context.config_loader["parameters"]
        if parameters != self._parameters:
            self._parameters = parameters
            pipelines.configure(pipelines._pipelines_module)  # forget pipelines built for other parameters


class MissingInputsError(RuntimeError):
    """A pipeline's input datasets do not exist yet, or their files cannot be read."""


def _read_error(catalog: Any, name: str) -> str | None:
    """Why the dataset's persisted file cannot be read, if it is one of ``hca_dtl.io``'s and is."""
    read_error = getattr(catalog.get(name), "read_error", None)
    return read_error() if read_error else None


def _description(catalog: Any, name: str) -> str:
    """The catalog entry's own description of where the dataset comes from, if it has one."""
    try:
        metadata = getattr(catalog.get(name), "metadata", None) or {}
    except Exception:  # an entry that cannot even be built has no description to offer
        metadata = {}
    return metadata.get("description", "no registered pipeline; see its catalog entry")


class CheckInputsHooks:
    """Fails fast, naming the pipelines to run first, when persisted inputs are missing or
    unreadable (``exists()`` of the ``hca_dtl.io`` datasets reads the file's structure)."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow starts a run that would then never end
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from kedro.framework.project import pipelines as registered

        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            if not catalog.exists(name):
                missing.append(name)
        if not missing:
            return
        if hasattr(registered, "set_requested"):
            registered.set_requested(None)  # Kedro loaded only the requested pipelines: load all
        producers = {
            name: sorted(
                pipe_name
                for pipe_name, pipe in registered.items()
                if pipe_name not in ("__default__", *ALIASES) and "." not in pipe_name
                and name in pipe.all_outputs()
            )
            for name in missing
        }
        lines = []
        for name, pipes in producers.items():
            problem = _read_error(catalog, name)
            made_by = f"made by: {', '.join(pipes) or _description(catalog, name)}"
            lines.append(f"  - {name}: {problem}; remake it ({made_by})" if problem
                         else f"  - {name} ({made_by})")
        first = sorted({p[0] for p in producers.values() if p})
        raise MissingInputsError(
            "These inputs do not exist yet or cannot be read:\n" + "\n".join(lines) + "\n"
            + (f"Run first: kedro run --pipelines={','.join(first)}  "
               "(or `kedro run --only-missing-outputs` to redo whatever is missing or unreadable)."
               if first else "")
        )


class TrackParametersHooks:
    """Logs every parameter of the run (``parameters.<section>.<key>``) to the MLflow run that
    kedro-mlflow has just started, whichever nodes run and wherever they run: kedro-mlflow itself
    logs only the ``params:`` inputs of nodes run with hooks, which excludes units on Dask workers."""

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run has started the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from hca_dtl.pipelines.tracking import log_parameters

        log_parameters(catalog.load("parameters"))
