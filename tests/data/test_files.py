"""Atomic writes and sweeping the temporaries that killed writers leave."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hca_dtl.data.files import atomic_path, sweep_stale_temporaries, temporary_path, this_host


def test_temporary_is_beside_target_and_names_host_and_pid(tmp_path: Path) -> None:
    temporary = temporary_path(tmp_path / "model.keras")
    assert temporary.parent == tmp_path
    assert temporary.name == f".model.{this_host()}.{os.getpid()}.tmp.keras"


def test_failed_write_leaves_target_as_it_was_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.sqlite"
    target.write_bytes(b"old, complete")
    with pytest.raises(RuntimeError, match="killed"), atomic_path(target) as temporary:
        temporary.write_bytes(b"half of the ne")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old, complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.sqlite"]


def test_successful_write_replaces_target(tmp_path: Path) -> None:
    target = tmp_path / "new" / "table.csv"
    with atomic_path(target) as temporary:
        temporary.write_text("a\n1\n")
    assert target.read_text() == "a\n1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_sweep_removes_only_temporaries_of_dead_writers_on_this_host(
    tmp_path: Path, dead_pid: int, live_pid: int
) -> None:
    folder = tmp_path / "03_primary" / "cells.parquet" / "2026-01-01T00.00.00.000Z"
    folder.mkdir(parents=True)
    host = this_host()
    dead = [folder / f".cells.{host}.{dead_pid}.tmp.parquet",
            tmp_path / f".synthetic_bbbc021.{host}.{dead_pid}.tmp.sqlite"]
    kept = [folder / f".cells.{host}.{live_pid}.tmp.parquet",  # still being written
            folder / f".cells.other-node.{dead_pid}.tmp.parquet",  # another host's writer
            folder / "cells.parquet",
            tmp_path / ".hidden.parquet",
            tmp_path / "BBBC021_v1_image.csv.part"]  # a resumable download
    for path in dead + kept:
        path.write_bytes(b"x")
    assert sweep_stale_temporaries(tmp_path) == sorted(dead)
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in kept)
