"""Project hooks: a clear message when a pipeline is run before the data it needs exist, and every
parameter of the run logged to its MLflow run."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl


class MissingInputsError(RuntimeError):
    """A pipeline's input datasets do not exist yet."""


def _description(catalog: Any, name: str) -> str:
    """The catalog entry's own description of where the dataset comes from, if it has one."""
    try:
        metadata = getattr(catalog.get(name), "metadata", None) or {}
    except Exception:  # an entry that cannot even be built has no description to offer
        metadata = {}
    return metadata.get("description", "no registered pipeline; see its catalog entry")


class CheckInputsHooks:
    """Fails fast, naming the pipelines to run first, when persisted inputs are missing."""

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
                if pipe_name != "__default__" and name in pipe.all_outputs()
            )
            for name in missing
        }
        lines = [f"  - {name} (made by: {', '.join(p) or _description(catalog, name)})"
                 for name, p in producers.items()]
        first = sorted({p[0] for p in producers.values() if p})
        raise MissingInputsError(
            "These inputs do not exist yet:\n" + "\n".join(lines) + "\n"
            + (f"Run first: kedro run --pipelines={','.join(first)}  "
               "(or `kedro run` for everything)." if first else "")
        )


class TrackParametersHooks:
    """Logs every parameter of the run (``parameters.<section>.<key>``) to the MLflow run that
    kedro-mlflow has just started, whichever nodes run and wherever they run: kedro-mlflow itself
    logs only the ``params:`` inputs of nodes run with hooks, which excludes units on Dask workers."""

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run has started the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from hca_dtl.pipelines.tracking import log_parameters

        log_parameters(catalog.load("parameters"))
