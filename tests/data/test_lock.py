"""One run at a time per folder: the lock names its holder, takes over stale locks only."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from hca_dtl.data.files import this_host
from hca_dtl.data.lock import Holder, RunLock, RunLockedError


def _hold(folder: Path, pid: int, host: str | None = None) -> Holder:
    """Writes a lock file as another process would have."""
    holder = Holder(pid=pid, host=host or this_host(), started="2026-01-01T08:00:00+00:00",
                    command="kedro run --env=paper")
    (folder / "run.lock").write_text(json.dumps(holder.__dict__))
    return holder


def test_lock_names_this_process_and_is_released(tmp_path: Path) -> None:
    with RunLock(tmp_path / "data") as lock:
        held = json.loads(lock.path.read_text())
        assert (held["pid"], held["host"]) == (os.getpid(), this_host())
        assert held["started"] and held["command"]
    assert not lock.path.exists()
    assert list((tmp_path / "data").iterdir()) == []  # no temporary left either


def test_live_holder_makes_a_second_run_fail_naming_it(tmp_path: Path, live_pid: int) -> None:
    _hold(tmp_path, live_pid)
    with pytest.raises(RunLockedError, match=rf"PID {live_pid} on host .*kedro run --env=paper"):
        RunLock(tmp_path).acquire()
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == live_pid


def test_stale_lock_is_reported_and_taken_over(
    tmp_path: Path, dead_pid: int, caplog: pytest.LogCaptureFixture
) -> None:
    stale = _hold(tmp_path, dead_pid)
    lock = RunLock(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert lock.acquire() == stale
    assert f"PID {dead_pid}" in caplog.text
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    assert not lock.path.exists()


def test_lock_from_another_host_is_never_broken(tmp_path: Path, dead_pid: int) -> None:
    _hold(tmp_path, dead_pid, host="node42")
    with pytest.raises(RunLockedError, match=r"host node42.*delete '.*run.lock' by hand"):
        RunLock(tmp_path).acquire()
    assert (tmp_path / "run.lock").exists()


def test_release_leaves_a_lock_taken_over_by_another_run(tmp_path: Path, live_pid: int) -> None:
    lock = RunLock(tmp_path)
    lock.acquire()
    _hold(tmp_path, live_pid)  # e.g. it wrongly judged this run stale
    lock.release()
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == live_pid


def test_unreadable_lock_file_says_how_to_clear_it(tmp_path: Path) -> None:
    (tmp_path / "run.lock").write_text("")
    with pytest.raises(RunLockedError, match="cannot be read.*delete it by hand"):
        RunLock(tmp_path).acquire()
