"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from hca_dtl.config_loader import ProjectConfigLoader
from hca_dtl.hooks import CheckInputsHooks, GridConfigHooks, RunLockHooks

# RunLockHooks takes the data root's lock around every other hook: a second run fails first.
HOOKS = (RunLockHooks(), GridConfigHooks(), CheckInputsHooks())

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # A conf/local or run-environment file may set a single nested key (e.g. loocv.n_repetitions)
    # without restating its siblings; an explicit {} replaces (hca_dtl.config_loader).
    "merge_strategy": {"parameters": "soft"},
}
