"""Project pipelines.

The grids (``transfer``, ``baselines``, ``benchmark``) are generated from the parameters of the
run (``hca_dtl.pipelines.grid``), one Kedro node per unit of work; every unit is also registered
as a pipeline of its own, named by its namespace (``transfer.pset1_nsc.bl.r0-1``), so that a job
array can run one per task. ``pretraining`` and ``evaluation`` are the former names of
``source_models`` and ``baselines``, kept for ``--pipelines``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from hca_dtl.pipelines import (baselines, benchmark, ingestion, predict, psets, reporting,
                               source_models, transfer)
from hca_dtl.pipelines.grid import experiment_grid, parameters
from hca_dtl.pipelines.parameters import validate_parameters

# The paper's experiment, in order; `benchmark` and `predict` are run by name.
DEFAULT = ("ingestion", "psets", "source_models", "transfer", "baselines", "reporting")
ALIASES = {"pretraining": "source_models", "evaluation": "baselines"}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.

    Raises:
        ParameterError: A parameter section is invalid (every problem listed).
    """
    params = parameters()
    validate_parameters(params)  # every section, before any node can run
    grid = experiment_grid(params)
    pipelines = {
        "ingestion": ingestion.create_pipeline(),
        "psets": psets.create_pipeline(),
        "source_models": source_models.create_pipeline(),
        "transfer": transfer.create_pipeline(grid),
        "baselines": baselines.create_pipeline(grid),
        "reporting": reporting.create_pipeline(),
        "benchmark": benchmark.create_pipeline(grid),
        "predict": predict.create_pipeline(),
    }
    pipelines.update({alias: pipelines[name] for alias, name in ALIASES.items()})
    for name in ("transfer", "baselines", "benchmark"):
        for node in pipelines[name].nodes:
            if "unit" in node.tags and node.namespace:
                pipelines[node.namespace] = Pipeline([node])
    pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT), Pipeline([]))
    return pipelines
