"""Nodes shared by every grid: fold plans, one unit of a grid, and the fan-in that collects units.

Heavy libraries (Keras, scikit-learn) are imported inside the node functions, so that loading the
pipelines (``kedro registry list``, ``kedro viz``, a parameter error) stays fast.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pandas as pd
from kedro.pipeline import Node

from hca_dtl.pipelines.grid import Bank, Unit, slug

logger = logging.getLogger(__name__)

RESULT_TABLES = ("cell_predictions", "votes", "accuracies", "runs", "choices")
COLLECTED_TABLES = ("votes", "accuracies", "runs", "choices")


def plan_folds(cells: pd.DataFrame, loocv: dict[str, Any], *, protocol: str) -> pd.DataFrame:
    """Leave-one-compound-out folds (× repetitions) over one problem's cells under ``protocol``,
    as a table (``FoldPlan.to_frame``: one row per cell, one role column per fold)."""
    from hca_dtl.evaluation.loocv import leave_one_compound_out
    from hca_dtl.evaluation.protocol import LOOCVConfig

    config = LOOCVConfig.from_dict(loocv)
    plan = leave_one_compound_out(cells, n_repetitions=config.n_repetitions,
                                  validation_fraction=config.validation_fraction,
                                  hold_out_batch=protocol == "NSCB", seed=config.seed)
    logger.info("%s: %d folds (%d compounds × %d repetitions), %d unscorable", protocol,
                plan.n_folds, len(set(plan.compounds)), config.n_repetitions,
                len(plan.untrainable_folds))
    return plan.to_frame()


def model_metadata(report: dict[str, Any], problem: str, learner: str, params: dict[str, Any]) -> dict[str, Any]:
    """What every saved model records: its problem, learner settings, data source and environment."""
    from hca_dtl.runtime import device_description, keras_backend, package_versions

    return {"problem": problem, "learner": learner, learner: params,
            "data_source": report["data_source"], "synthetic": report["synthetic"],
            "backend": keras_backend(), "device": device_description(),
            "package_versions": package_versions()}


def train_bank(source_cells: pd.DataFrame, source_classes: list[str], target_cells: pd.DataFrame,
               features: list[str], normalizers: dict[str, Any], controls: pd.DataFrame,
               report: dict[str, Any], learner: dict[str, Any], params: dict[str, Any], *,
               bank: Bank) -> Any:
    """The source networks ``bank`` describes (``hca_dtl.evaluation.sources.train_source_bank``):
    one per distinct set of source cells the target's folds exclude, each normalised by the
    default normalisation fitted without the batches it excludes. Settings with candidates train
    their sources with the first (default) candidate of each."""
    from hca_dtl.data.normalize import FoldNormalizers
    from hca_dtl.evaluation.sources import train_source_bank
    from hca_dtl.model.learners import learner as learner_named

    family = learner_named(bank.learner)
    metadata = {**model_metadata(report, bank.source_problem, bank.learner, learner),
                "bank": bank.name}
    return train_source_bank(source_cells, source_classes, features, target_cells,
                             learner=family, config=family.config(first_candidates(learner)),
                             hold_out_batch=bank.protocol == "NSCB",
                             validation_fraction=params["validation_fraction"],
                             seed=params["seed"], metadata=metadata,
                             normalizers=FoldNormalizers(normalizers, controls))


def first_candidates(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the first (default) candidate of every setting that lists candidates."""
    from hca_dtl.evaluation.selection import expand

    return expand(params)[0]

def run_grid_unit(cells: pd.DataFrame, classes: list[str], features: list[str], plan: pd.DataFrame,
                  normalizers: dict[str, Any], controls: pd.DataFrame, loocv: dict[str, Any],
                  learner: dict[str, Any] | None = None, *, unit: Unit,
                  **sources: Any) -> tuple[pd.DataFrame, ...]:
    """One unit of a grid (``hca_dtl.evaluation.harness.run_unit``): its method on its problem,
    protocol and block of repetitions.

    Returns:
        The unit's ``RESULT_TABLES``: cell predictions, votes, accuracies, runs, choices.
    """
    from hca_dtl.data.normalize import FoldNormalizers
    from hca_dtl.evaluation.experiments import experiment_keys
    from hca_dtl.evaluation.harness import parameters_digest, run_unit
    from hca_dtl.evaluation.loocv import FoldPlan
    from hca_dtl.evaluation.protocol import LOOCVConfig

    method = unit.method
    config = LOOCVConfig.from_dict(loocv)
    fold_plan = FoldPlan.from_frame(plan).repetition_block(unit.repetitions)
    keys = experiment_keys(method.name, unit.target, setting=method.setting,
                           source=unit.source_label)
    learner_params = {method.setting.learner: learner} if learner is not None else {}
    result = run_unit(cells, classes, features, fold_plan, method, keys, loocv=config,
                      normalizers=FoldNormalizers(normalizers, controls),
                      learner_params=learner_params,
                      sources=[sources[name] for name in sorted(sources)])
    result.runs["learner"] = method.setting.learner if method.kind == "network" else method.kind
    result.runs["parameters_digest"] = parameters_digest(LOOCVConfig.result_settings(loocv), learner,
                                                         list(normalizers))
    return tuple(getattr(result, table) for table in RESULT_TABLES)


def unit_node(unit: Unit) -> Node:
    """The Kedro node of ``unit``, in its namespace, tagged ``unit`` (distributable)."""
    problem = slug(unit.problem)
    inputs = {"cells": f"{problem}_cells", "classes": f"{problem}_classes",
              "features": "feature_list", "plan": unit.plan, "normalizers": "normalizers",
              "controls": "controls", "loocv": "params:loocv"}
    if unit.method.kind == "network":
        inputs["learner"] = f"params:{unit.method.setting.learner}"
    inputs.update({f"source_{i}": bank.dataset for i, bank in enumerate(unit.banks)})
    return Node(
        named(run_grid_unit, "run_grid_unit", unit=unit),
        inputs,
        [f"{unit.namespace}.{table}" for table in RESULT_TABLES],
        name="run_unit",
        namespace=unit.namespace,
        tags={"unit", unit.grid},
    )


def collect_results(*tables: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Stacks the units' tables: ``tables`` holds every unit's votes, then every unit's
    accuracies, runs and choices (``COLLECTED_TABLES``), in the same unit order.

    Raises:
        ValueError: Units of one grid and learner were computed with different settings (their
            runs' ``parameters_digest`` differ): a campaign folder mixes runs.
    """
    n_units = len(tables) // len(COLLECTED_TABLES)
    groups = [tables[i * n_units:(i + 1) * n_units] for i in range(len(COLLECTED_TABLES))]
    stacked = [_stack(group) for group in groups]
    runs = stacked[COLLECTED_TABLES.index("runs")]
    mixed = ({} if "parameters_digest" not in runs else
             runs.groupby("learner").filter(lambda g: g["parameters_digest"].nunique() > 1)
             .groupby("parameters_digest")["experiment"].first().to_dict())
    if mixed:
        raise ValueError("The units of this campaign were computed with different loocv / learner "
                         f"settings ({mixed}); rerun them, or run under a new campaign name "
                         "(--params campaign=<name>).")
    return tuple(stacked)


def _stack(tables: tuple[pd.DataFrame, ...]) -> pd.DataFrame:
    """The non-empty ``tables`` one below the other; a column that is integer wherever it exists
    (e.g. ``source_network``, only in transfer units) stays integer (nullable) instead of float."""
    present = [t for t in tables if len(t)]
    if not present:
        return pd.DataFrame()
    stacked = pd.concat(present, ignore_index=True)
    for column in stacked.columns:
        kinds = {t[column].dtype.kind for t in present if column in t}
        if kinds <= {"i", "u"} and stacked[column].isna().any():
            stacked[column] = stacked[column].astype("Int64")
    return stacked


def collect_node(grid: str, units: list[Unit]) -> Node:
    """The fan-in of ``grid``: ``<grid>_votes``, ``_accuracies``, ``_runs``, ``_choices``."""
    inputs = [f"{u.namespace}.{table}" for table in COLLECTED_TABLES for u in units]
    return Node(collect_results, inputs, [f"{grid}_{table}" for table in COLLECTED_TABLES],
                name="collect_units", namespace=grid)


def named(function: Any, name: str, **bound: Any) -> functools.partial:
    """``function`` with ``bound`` keyword arguments, named for Kedro's logs and kedro-viz."""
    bound_function = functools.partial(function, **bound)
    bound_function.__name__ = name
    return bound_function


def plan_nodes(plans: list[tuple[str, str]]) -> list[Node]:
    """The fold plan of each (problem, protocol): ``<problem>_<protocol>_fold_plan``."""
    return [Node(named(plan_folds, "plan_folds", protocol=protocol),
                 [f"{slug(problem)}_cells", "params:loocv"],
                 f"{slug(problem)}_{slug(protocol)}_fold_plan",
                 name=f"plan_{slug(problem)}_{slug(protocol)}_folds_node")
            for problem, protocol in plans]


def bank_nodes(banks: list[Bank]) -> list[Node]:
    """The node of each source bank, in its namespace, tagged ``unit`` (distributable)."""
    return [Node(named(train_bank, "train_bank", bank=bank),
                 {"source_cells": f"{slug(bank.source_problem)}_cells",
                  "source_classes": f"{slug(bank.source_problem)}_classes",
                  "target_cells": f"{slug(bank.target)}_cells",
                  "features": "feature_list", "normalizers": "normalizers",
                  "controls": "controls", "report": "ingestion_report",
                  "learner": f"params:{bank.learner}", "params": "params:source_training"},
                 bank.dataset, name=f"train_{bank.name}", namespace="sources", tags={"unit"})
            for bank in banks]


def grid_nodes(grid: Any, name: str) -> list[Node]:
    """Everything a grid needs beyond the problems: its fold plans, source banks, units and the
    fan-in that collects them (``<name>_votes``, ``_accuracies``, ``_runs``, ``_choices``)."""
    units = grid.of(name)
    if not units:
        return []
    return [*plan_nodes(grid.plans(name)), *bank_nodes(grid.banks(name)),
            *(unit_node(unit) for unit in units), collect_node(name, units)]
