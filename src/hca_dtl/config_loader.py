"""The project's config loader: Kedro's ``OmegaConfigLoader`` with parameters soft-merged across
environments (``conf/local`` or ``--env`` may set one nested key without restating its siblings),
except that a value written as ``{}`` replaces the base value as written instead of keeping it.

So ``conf/bbbc021_wells`` can reset ``benchmark.methods.logistic_regression: {}`` to the method's
defaults, where a plain soft merge would silently keep the base file's grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf


def _empty_mappings_replace(merged: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and not value:
            merged[key] = {}
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            _empty_mappings_replace(merged[key], value)


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose soft merge lets an environment's ``{}`` replace a mapping."""

    @staticmethod
    def _soft_merge(config: dict[str, Any], env_config: dict[str, Any],
                    env_path: str | None = None) -> Any:
        merged = OmegaConf.to_container(OmegaConf.unsafe_merge(config, env_config))
        _empty_mappings_replace(merged, OmegaConf.to_container(OmegaConf.create(env_config)))
        return merged
