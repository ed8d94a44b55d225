"""The experiment grids as independent Kedro units, read from the parameters at registry time.

Kedro's ``create_pipeline`` receives no parameters (kedro#2627), so the registry reads the grid
through the run's own config loader: ``GridConfigHooks`` (``hca_dtl.hooks``) hands it over in
``after_context_created``, before Kedro first asks for the pipelines — so ``--env`` and
``--params`` shape the grid exactly as they shape the run. Without a session (``kedro registry
list``) the loader is built from ``conf/`` with ``KEDRO_ENV``. The grid is read from the
parameters rather than a separate YAML so that there is one place where a setting is written.

A *unit* is one method on one problem under one protocol for a block of repetitions
(``loocv.repetitions_per_unit``): one Kedro node in the namespace
``<grid>.<problem>_<protocol>.<method>.r<first>-<last>``, whose five result tables are persisted
through the dataset factory ``{grid}.{unit}.<table>`` under the campaign folder
``07_model_output/campaigns/<campaign>/`` (``--params campaign=<name>``). A *source bank* is the
set of source networks a transferring setting needs (``hca_dtl.evaluation.sources``), one node in
the namespace ``sources`` writing ``<learner>_<source>_sources_for_<target>_<protocol>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hca_dtl.evaluation.protocol import LOOCVConfig, Method, baseline_options
from hca_dtl.model.learners import learner as learner_named
from hca_dtl.model.masks import TransferSetting, parse_transfer_mask, transfer_setting

PROBLEMS = ("Pset1", "Pset2", "all12")
OTHER = {"Pset1": "Pset2", "Pset2": "Pset1", "all12": "Pset1|Pset2"}
GRIDS = ("transfer", "baselines", "benchmark")
_KEYS = {
    "transfer": ("directions", "approaches", "protocols", "settings"),
    "baselines": ("twelve_class", "problems", "methods"),
    "benchmark": ("protocols", "problems", "nearest_neighbour", "methods", "settings", "approaches"),
}

_config_loader: Any = None


def use_config_loader(config_loader: Any) -> None:
    """Makes the registry read the grid through ``config_loader`` (the running session's)."""
    global _config_loader
    _config_loader = config_loader


def parameters() -> dict[str, Any]:
    """The run's parameters: the session's config loader, else ``conf/`` with ``KEDRO_ENV``."""
    if _config_loader is not None:
        return dict(_config_loader["parameters"])
    from kedro.framework.project import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path.cwd() / settings.CONF_SOURCE), env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS)
    return dict(loader["parameters"])


def slug(name: str) -> str:
    """A name as a namespace segment: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class Bank:
    """The source networks a transferring setting of ``learner`` from ``source`` needs for the
    folds of ``target`` under ``protocol`` (``hca_dtl.evaluation.sources.train_source_bank``)."""

    learner: str
    source: str
    target: str
    protocol: str

    @property
    def name(self) -> str:
        return f"{self.learner}_{self.source}_for_{slug(self.target)}_{slug(self.protocol)}"

    @property
    def dataset(self) -> str:
        return f"{self.learner}_{self.source}_sources_for_{slug(self.target)}_{slug(self.protocol)}"

    @property
    def source_problem(self) -> str:
        """The problem the networks are trained on."""
        return "all12" if self.source == "all12" else OTHER[self.target]


@dataclass(frozen=True)
class Unit:
    """One Kedro node of a grid: ``method`` on ``problem`` under ``protocol``, ``repetitions``."""

    grid: str
    problem: str
    protocol: str
    method: Method
    repetitions: tuple[int, ...]
    banks: tuple[Bank, ...] = field(default=())

    @property
    def namespace(self) -> str:
        first, last = self.repetitions[0], self.repetitions[-1]
        block = f"r{first}" if first == last else f"r{first}-{last}"
        return f"{self.grid}.{slug(self.problem)}_{slug(self.protocol)}.{slug(self.method.name)}.{block}"

    @property
    def target(self) -> str:
        """The ``target`` of the result tables: the problem, ``"<problem> NSCB"`` under NSCB."""
        return self.problem if self.protocol == "NSC" else f"{self.problem} {self.protocol}"

    @property
    def source_label(self) -> str:
        """The ``source`` of the result tables (transferring settings only)."""
        return "all12" if self.method.setting.source == "all12" else OTHER[self.problem]

    @property
    def plan(self) -> str:
        """The fold plan it reads."""
        return f"{slug(self.problem)}_{slug(self.protocol)}_fold_plan"


@dataclass(frozen=True)
class Grid:
    """Every unit and source bank the parameters ask for."""

    units: tuple[Unit, ...]

    def of(self, grid: str) -> list[Unit]:
        return [u for u in self.units if u.grid == grid]

    def banks(self, grid: str | None = None) -> list[Bank]:
        units = self.units if grid is None else self.of(grid)
        return list(dict.fromkeys(b for u in units for b in u.banks))

    def plans(self, grid: str | None = None) -> list[tuple[str, str]]:
        """(problem, protocol) of every fold plan the units of ``grid`` (default: all) read."""
        units = self.units if grid is None else self.of(grid)
        return list(dict.fromkeys((u.problem, u.protocol) for u in units))


def _names(value: Any) -> list[str]:
    """A list from conf, or a space-separated string from ``--params`` (where commas split)."""
    return value.split() if isinstance(value, str) else [str(v) for v in value or []]


def _selected(value: Any, available: list[str], where: str) -> list[str]:
    """Names chosen with ``--params`` (a space-separated string or a list); all when empty."""
    if value is None or value == "all" or value == []:
        return available
    chosen = _names(value)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f"{where}: unknown {unknown}; choose among {available}")
    return chosen


def _section(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = params.get(name) or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"params:{name} must be a mapping, got {section!r}")
    unknown = sorted(set(section) - set(_KEYS[name]))
    if unknown:
        raise ValueError(f"Unknown {name} key(s) {unknown}; known: {list(_KEYS[name])}")
    return dict(section)


def _protocols(value: Any, where: str) -> list[str]:
    protocols = _names(value) or ["NSC"]
    bad = [p for p in protocols if p not in ("NSC", "NSCB")]
    if bad:
        raise ValueError(f"{where}: unknown protocol(s) {bad}; choose among ['NSC', 'NSCB']")
    return protocols


def _problems(value: Any, where: str, default: list[str]) -> list[str]:
    problems = _names(value) or default
    bad = [p for p in problems if p not in PROBLEMS]
    if bad:
        raise ValueError(f"{where}: unknown problem(s) {bad}; choose among {list(PROBLEMS)}")
    return problems


def network_method(name: str, value: Any, params: Mapping[str, Any], where: str) -> Method:
    """A network setting from ``conf/`` (``transfer_setting``), its mask checked against the
    learner's configuration (one digit per hidden layer + the output layer)."""
    setting = transfer_setting(value, f"{where}.{name}")
    check_setting(setting, params, f"{where}.{name}")
    return Method(name, "network", setting=setting)


def check_setting(setting: TransferSetting, params: Mapping[str, Any], where: str) -> None:
    """Raises ``ValueError`` (naming ``where``) if the setting's learner is unknown, its
    parameters section missing, or its mask's length does not fit every hidden-layer count the
    learner's candidates allow."""
    from hca_dtl.evaluation.selection import candidate_values, expand

    for members in ([] if setting.members is None else candidate_values(setting.members, where)):
        if not isinstance(members, int) or members < 1:
            raise ValueError(f"{where}: members must be positive integers, got {members!r}")
    learner = learner_named(setting.learner)
    section = params.get(learner.name)
    if not isinstance(section, Mapping):
        raise ValueError(f"{where}: learner {learner.name!r} needs a params:{learner.name} section")
    for option in expand({**section, **setting.config}, learner.name):
        config = learner.config(option)
        if setting.mask:
            try:
                parse_transfer_mask(setting.mask, len(config.hidden_units))
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None


def experiment_grid(params: Mapping[str, Any]) -> Grid:
    """Every unit the ``transfer``, ``baselines`` and ``benchmark`` grids ask for.

    Raises:
        ValueError: A section with unknown keys, an unknown problem, protocol, approach,
            direction, method or learner, or a mask that does not fit its network (named).
    """
    loocv = LOOCVConfig.from_dict(params.get("loocv") or {})
    blocks = loocv.blocks()
    units: list[Unit] = []

    def add(grid: str, problem: str, protocol: str, method: Method) -> None:
        setting = method.setting
        banks = ()
        if method.kind == "network" and setting.transfers:
            targets = ["Pset1", "Pset2"] if problem == "all12" and setting.source == "other" else [problem]
            banks = tuple(Bank(setting.learner, setting.source, t, protocol) for t in targets)
        units.extend(Unit(grid, problem, protocol, method, block, banks) for block in blocks)

    transfer = _section(params, "transfer")
    settings = transfer.get("settings") or {}
    directions = {f"{s}_to_{t}".lower(): t for s, t in (("Pset2", "Pset1"), ("Pset1", "Pset2"))}
    for direction in _selected(transfer.get("directions"), list(directions), "transfer.directions"):
        for approach in _selected(transfer.get("approaches"), list(settings), "transfer.approaches"):
            for protocol in _protocols(transfer.get("protocols"), "transfer.protocols"):
                add("transfer", directions[direction], protocol,
                    network_method(approach, settings[approach], params, "transfer.settings"))

    baselines = _section(params, "baselines")
    twelve_class = baselines.get("twelve_class") or []
    for approach in _selected(twelve_class, list(settings), "baselines.twelve_class") if twelve_class else []:
        add("baselines", "all12", "NSC",
            network_method(approach, settings[approach], params, "transfer.settings"))
    for problem in _problems(baselines.get("problems"), "baselines.problems", ["Pset1", "Pset2"]):
        for name, options in (baselines.get("methods") or {}).items():
            add("baselines", problem, "NSC", _baseline(name, options, "baselines.methods"))

    benchmark = _section(params, "benchmark")
    methods, network_settings = benchmark.get("methods") or {}, benchmark.get("settings") or {}
    chosen = set(_selected(benchmark.get("approaches"),
                           ["1-NN"] * bool(benchmark.get("nearest_neighbour")) + [*methods, *network_settings],
                           "benchmark.approaches"))
    for protocol in _protocols(benchmark.get("protocols"), "benchmark.protocols"):
        for problem in _problems(benchmark.get("problems"), "benchmark.problems", list(PROBLEMS)):
            if "1-NN" in chosen:
                add("benchmark", problem, protocol, Method(f"{protocol} 1-NN", "nearest_neighbour"))
            for name in (m for m in methods if m in chosen):
                add("benchmark", problem, protocol, _baseline(name, methods[name], "benchmark.methods"))
            for name in (m for m in network_settings if m in chosen):
                add("benchmark", problem, protocol,
                    network_method(name, network_settings[name], params, "benchmark.settings"))

    _check_unique(units)
    return Grid(tuple(units))


def _baseline(name: str, options: Any, where: str) -> Method:
    options = dict(options or {})
    try:
        baseline_options(name, options)
    except ValueError as error:
        raise ValueError(f"{where}.{name}: {error}") from None
    return Method(name, "baseline", options=options, baseline=name)


def _check_unique(units: list[Unit]) -> None:
    seen: dict[str, Unit] = {}
    for unit in units:
        other = seen.setdefault(unit.namespace, unit)
        if other is not unit:
            raise ValueError(f"Two methods of the {unit.grid} grid, {other.method.name!r} and "
                             f"{unit.method.name!r}, give the same unit name {unit.namespace!r}; "
                             "rename one")


def check_output_layers(classes: Mapping[str, list[str]], params: Mapping[str, Any]) -> None:
    """Before any training: every setting of the ``transfer`` and ``benchmark`` grids that
    transfers the output layer from the other Pset must find a layout for it — the same MOAs by
    name where one problem's MOAs include the other's, else by position, which needs as many MOAs.

    Raises:
        ValueError: Naming the setting and both problems' MOA counts.
    """
    settings = {**((params.get("transfer") or {}).get("settings") or {}),
                **((params.get("benchmark") or {}).get("settings") or {})}
    one, two = classes["Pset1"], classes["Pset2"]
    nested = set(one) <= set(two) or set(two) <= set(one)
    for name, value in settings.items():
        setting = transfer_setting(value, name)
        if setting.mask.strip("[]").endswith("1") and setting.source == "other" and (
                not nested and len(one) != len(two)):
            raise ValueError(
                f"Setting {name!r} ({setting.mask}) transfers the output layer between Pset1 "
                f"({len(one)} MOAs) and Pset2 ({len(two)} MOAs), which share no MOA: copied by "
                "position it needs as many MOAs in both. Choose psets that split the MOAs evenly, "
                "or a mask ending in 0.")
