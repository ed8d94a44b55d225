"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The paper's experiment, in order; `benchmark` and `predict` are run by name.
DEFAULT = ("ingestion", "psets", "pretraining", "transfer", "evaluation", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    # Kedro may load only the pipelines a run asks for: sum those of DEFAULT that are loaded.
    pipelines["__default__"] = sum(pipelines[name] for name in DEFAULT if name in pipelines)
    return pipelines
