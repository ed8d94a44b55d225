"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import os


def disable_mlflow_telemetry() -> None:
    """MLflow sends usage data unless told not to, and decides when it is first imported. The
    `kedro` CLI imports it (through kedro-mlflow's commands) before it reads this file, so this is
    also a `kedro.init` entry point (pyproject.toml), which the CLI calls first; the Makefile
    exports the variable too. Kedro's own telemetry is off through `.telemetry`."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


disable_mlflow_telemetry()

from hca_dtl.config_loader import ProjectConfigLoader  # noqa: E402
from hca_dtl.hooks import (  # noqa: E402
    CheckInputsHooks, GridConfigHooks, RunLockHooks, TrackParametersHooks,
)

# RunLockHooks takes the data root's lock around every other hook: a second run fails first.
HOOKS = (RunLockHooks(), GridConfigHooks(), CheckInputsHooks(), TrackParametersHooks())

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # A conf/local or run-environment file may set a single nested key (e.g. loocv.n_repetitions)
    # without restating its siblings; an explicit {} replaces (hca_dtl.config_loader).
    "merge_strategy": {"parameters": "soft"},
    # ${abspath:...}: a path made absolute against the working directory (the project root, as
    # for the catalog's relative paths) when configuration is loaded; conf/base/mlflow.yml needs it.
    "custom_resolvers": {"abspath": os.path.abspath},
}
