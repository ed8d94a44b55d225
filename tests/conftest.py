"""Shared test helpers: where the real data live, a scratch copy of the Kedro project, and PIDs of
a process that has ended and of one that runs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real BBBC021 metadata and profiles); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (present in CI and on dev machines)")
    return SHARED_DATA


def copy_project(destination: Path) -> Path:
    """A scratch copy of the Kedro project (conf + metadata, empty data layers) in ``destination``."""
    for name in ("conf", "pyproject.toml", ".telemetry"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy(source, destination / name)
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input",
                  "06_models", "07_model_output", "08_reporting"):
        (destination / "data" / layer).mkdir(parents=True)
    (destination / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    return destination


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``copy_project`` in ``tmp_path``, made the working directory: Kedro resolves the catalog's
    relative paths against it."""
    monkeypatch.chdir(copy_project(tmp_path))
    return tmp_path


@pytest.fixture
def dead_pid() -> int:
    """The PID of a process that has ended (as a run killed with ``kill -9`` leaves behind)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The PID of a process that runs for the duration of the test."""
    process = subprocess.Popen(["sleep", "600"])
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def project_copies(tmp_path_factory: pytest.TempPathFactory):
    """Makes named scratch copies of the project for a module's tests (``copy_project``)."""
    return lambda name: copy_project(tmp_path_factory.mktemp(name))
