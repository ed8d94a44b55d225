"""Every parameter section checked before any node runs (``ParameterChecksHooks``).

Each section is read by the frozen dataclass or function that will use it — unknown keys fail,
listing the known ones — every candidate combination included; masks are checked against their
learner's networks; the grids are built once. All problems are reported together. Nothing here
imports Keras or scikit-learn, so a bad parameter fails in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hca_dtl.evaluation.protocol import LOOCVConfig
from hca_dtl.evaluation.selection import expand
from hca_dtl.model.learners import LEARNERS


class ParameterError(ValueError):
    """One or more parameter sections are invalid (every problem listed)."""


def _source_training(params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - {"validation_fraction", "seed"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; known: ['seed', 'validation_fraction']")
    if not 0 <= params.get("validation_fraction", 0.2) < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {params['validation_fraction']!r}")


def _learner(name: str) -> Callable[[Mapping[str, Any]], None]:
    def check(params: Mapping[str, Any]) -> None:
        for option in expand(params, name):
            LEARNERS[name].config(option)
    return check


def _ingestion(params: Mapping[str, Any]) -> None:
    from hca_dtl.data.ingest import IngestConfig

    for option in expand(params, "ingestion"):
        IngestConfig.from_dict(option)


def _keys(known: tuple[str, ...]) -> Callable[[Mapping[str, Any]], None]:
    def check(params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; known: {sorted(known)}")
    return check


FILES = ("export", "platemap", "barcode_platemap", "image_metadata", "moa_metadata",
         "control_compounds", "columns", "layout", "description")
PREDICT = ("export", "platemap", "barcode_platemap", "image_metadata", "columns",
           "normalization_statistics", "layout", "description", "control_compounds",
           "range_tolerance", "out_of_range_threshold", "weak_vote_threshold")


def _data_source(params: Mapping[str, Any]) -> None:
    from hca_dtl.data.annotate import MetadataColumns
    from hca_dtl.data.synthetic import SyntheticConfig

    _keys(("kind", "raw_dir", "synthetic", "files", "download"))(params)
    if params.get("kind") not in ("synthetic", "files", "download"):
        raise ValueError(f"kind must be synthetic, files or download, got {params.get('kind')!r}")
    SyntheticConfig.from_dict(params.get("synthetic") or {})
    files = params.get("files") or {}
    try:
        _keys(FILES)(files)
        MetadataColumns.from_dict(files.get("columns"))
    except ValueError as error:
        raise ValueError(f"files: {error}") from None


def _predict(params: Mapping[str, Any]) -> None:
    from hca_dtl.data.annotate import MetadataColumns

    _keys(PREDICT)(params)
    MetadataColumns.from_dict(params.get("columns"))
    statistics = params.get("normalization_statistics", "training")
    if statistics not in ("training", "export"):
        raise ValueError(f"normalization_statistics must be training or export, got {statistics!r}")


def _psets(params: Mapping[str, Any]) -> None:
    from hca_dtl.data.psets import check_parameters

    check_parameters(params)


def _dask(params: Mapping[str, Any]) -> None:
    from hca_dtl.config import config_from_dict
    from hca_dtl.runners.dask import DaskSettings

    config_from_dict(DaskSettings, params)


CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "data_source": _data_source,
    "ingestion": _ingestion,
    "psets": _psets,
    **{name: _learner(name) for name in LEARNERS},  # saa, mlp: one section per learner
    "source_training": _source_training,
    "loocv": lambda p: LOOCVConfig.from_dict(p),
    "predict": _predict,
    "reporting": _keys(()),
    "dask": _dask,
}
GRID_SECTIONS = ("transfer", "baselines", "benchmark")
RUN_PARAMETERS = ("campaign",)  # given with --params only


def validate_parameters(params: Mapping[str, Any]) -> None:
    """Checks every section of the run's parameters.

    Raises:
        ParameterError: Listing every problem, each with its section (``saa: ...``).
    """
    from hca_dtl.pipelines.grid import experiment_grid

    problems = []
    known = {*CHECKS, *GRID_SECTIONS, *RUN_PARAMETERS}
    unknown = sorted(set(params) - known)
    if unknown:
        problems.append(f"unknown parameter section(s) {unknown}; known: {sorted(known)}")
    for section, check in CHECKS.items():
        if section not in params:
            continue
        value = params[section]
        try:
            if not isinstance(value, Mapping):
                raise ValueError(f"must be a mapping, got {value!r}")
            check(value)
        except (ValueError, TypeError) as error:
            problems.append(f"{section}: {error}")
    try:
        experiment_grid(params)
    except (ValueError, TypeError) as error:
        problems.append(str(error))
    if problems:
        raise ParameterError("Invalid parameters (nothing was run):\n  - " + "\n  - ".join(problems))
