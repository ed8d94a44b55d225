"""Results of a run logged to its MLflow run (kedro-mlflow starts one per ``kedro run``).

Fan-in nodes call ``log_results`` once, in the driver process (the DaskRunner keeps them there:
kedro-mlflow's logging races under parallel runners and its datasets do not pickle). Every function
is a no-op when no MLflow run is active (library tests, a session without the hook).

Metric names (``metric_key``): ``<prefix><quantity>/<experiment>/<repetition or mean>``, e.g.
``treatment_accuracy/DTL_1_Pset2_to_Pset1/rep0``; fractions in [0, 1], times in seconds. A value
already logged under the same name is not logged again, so fan-in nodes that see the same
experiments (``summarise_transfer``, then ``evaluate_experiments``) do not duplicate them.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from typing import Any

import pandas as pd

ACCURACIES = ("treatment_accuracy", "cell_accuracy")
TIMES = ("pretrain_seconds", "finetune_seconds", "wall_seconds")


def active_run_id() -> str | None:
    """The active MLflow run's id, or None (also when mlflow was never imported: no run then)."""
    if "mlflow" not in sys.modules:
        return None
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run else None


def metric_key(*parts: Any) -> str:
    """A valid MLflow key from parts joined by ``/``: ``→`` becomes ``_to_``, and every run of
    characters other than letters, digits, ``_``, ``-`` and ``.`` becomes ``_``."""
    names = [re.sub(r"[^\w\-.]+", "_", str(part).replace("→", "_to_")).strip("_.") or "_"
             for part in parts]
    return "/".join(names)


def _log_metrics(metrics: Mapping[str, float]) -> None:
    """Logs the finite values not already logged with the same value in the active run."""
    run_id = active_run_id()
    if run_id is None:
        return
    import mlflow

    logged = mlflow.get_run(run_id).data.metrics
    new = {k: float(v) for k, v in metrics.items() if math.isfinite(v) and logged.get(k) != v}
    if new:
        mlflow.log_metrics(new)


def _per_experiment(frame: pd.DataFrame, columns: tuple[str, ...], prefix: str,
                    by_repetition: bool) -> dict[str, float]:
    """``{key: value}`` for each experiment (and repetition) and each present column.

    Raises:
        ValueError: two experiment names map to the same key (both named).
    """
    metrics, owner = {}, {}
    for row in frame.to_dict("records"):
        for column in (c for c in columns if c in row):
            where = f"rep{int(row['repetition'])}" if by_repetition else None
            key = metric_key(*(p for p in (f"{prefix}{column}", row["experiment"], where) if p))
            if owner.setdefault(key, row["experiment"]) != row["experiment"]:
                raise ValueError(f"Experiments {owner[key]!r} and {row['experiment']!r} give "
                                 f"the same MLflow key {key!r}; rename one.")
            metrics[key] = row[column]
    return metrics


def log_accuracies(accuracies: pd.DataFrame, prefix: str = "") -> None:
    """Treatment and cell accuracy per experiment and repetition, and the treatment accuracy's
    mean over repetitions. ``accuracies``: ``hca_dtl.evaluation.voting.accuracies``' table."""
    if active_run_id() is None:
        return
    means = (accuracies.groupby("experiment", observed=True, sort=False)["treatment_accuracy"]
             .mean().rename_axis("experiment").reset_index())
    _log_metrics({**_per_experiment(accuracies, ACCURACIES, prefix, by_repetition=True),
                  **{f"{k}/mean": v for k, v in
                     _per_experiment(means, ("treatment_accuracy",), prefix, False).items()}})


def log_comparisons(comparisons: pd.DataFrame, prefix: str = "") -> None:
    """Each experiment's tests against its baseline (``compare_to_baseline``: ``p_seeds``,
    ``difference`` and its interval, ``p_compounds_holm``; NaN skipped)."""
    if active_run_id() is not None:
        _log_metrics(_per_experiment(comparisons, ("p_seeds", "difference", "difference_low",
                                                   "difference_high", "p_compounds_holm"),
                                     prefix, by_repetition=False))


def log_runs(runs: pd.DataFrame, prefix: str = "") -> None:
    """Pretraining, fine-tuning and wall seconds per experiment and repetition (runs table)."""
    if active_run_id() is not None:
        _log_metrics(_per_experiment(runs, TIMES, prefix, by_repetition=True))


def log_artifact(name: str, content: str | pd.DataFrame) -> None:
    """A text artefact (a DataFrame as CSV) saved as ``name`` in the run's artefacts."""
    if active_run_id() is None:
        return
    import mlflow

    text = content.to_csv(index=False) if isinstance(content, pd.DataFrame) else content
    mlflow.log_text(text, name)


def log_results(*, accuracies: pd.DataFrame | None = None, comparisons: pd.DataFrame | None = None,
                runs: pd.DataFrame | None = None,
                artifacts: Mapping[str, str | pd.DataFrame] | None = None,
                prefix: str = "") -> None:
    """What a fan-in node logs, in one call; ``prefix`` (e.g. ``"benchmark/"``) keeps another
    pipeline's experiments apart."""
    if active_run_id() is None:
        return
    if accuracies is not None:
        log_accuracies(accuracies, prefix)
    if comparisons is not None:
        log_comparisons(comparisons, prefix)
    if runs is not None:
        log_runs(runs, prefix)
    for name, content in (artifacts or {}).items():
        log_artifact(name, content)


def flat_parameters(parameters: Mapping[str, Any], prefix: str = "parameters") -> dict[str, str]:
    """Nested parameters as ``{"parameters.saa.hidden_units": "[32, ...]"}``: the keys and values
    kedro-mlflow logs for a node's ``parameters`` input (``flatten: true``, ``sep: "."``)."""
    flat = {}
    for key, value in parameters.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(flat_parameters(value, name))
        else:
            flat[re.sub(r"[^/\w.\- :]", "_", name)] = str(value)
    return flat


def log_parameters(parameters: Mapping[str, Any]) -> None:
    """Every parameter of the run, one MLflow parameter per leaf; a value longer than MLflow's
    limit (6000 characters) becomes a tag, as kedro-mlflow's ``long_params_strategy: tag``."""
    if active_run_id() is None:
        return
    import mlflow
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    flat = flat_parameters(parameters)
    long = {k: v for k, v in flat.items() if len(v) > MAX_PARAM_VAL_LENGTH}
    mlflow.log_params({k: v for k, v in flat.items() if k not in long})
    if long:
        mlflow.set_tags(long)
