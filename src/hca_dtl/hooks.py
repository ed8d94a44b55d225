"""Project hooks: the grid is read through the run's config loader, and a clear message when a
pipeline is run before the data it needs exist."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

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

    @hook_impl
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
        lines = [f"  - {name} (made by: {', '.join(p) or _description(catalog, name)})"
                 for name, p in producers.items()]
        first = sorted({p[0] for p in producers.values() if p})
        raise MissingInputsError(
            "These inputs do not exist yet:\n" + "\n".join(lines) + "\n"
            + (f"Run first: kedro run --pipelines={','.join(first)}  "
               "(or `kedro run` for everything)." if first else "")
        )

