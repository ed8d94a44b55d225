"""Atomic file writes: a file is either complete or absent, never half-written.

A write goes to a temporary file beside its target, named ``.<stem>.<host>.<pid>.tmp<suffix>``
(e.g. ``.cells.node07.41230.tmp.parquet``), is fsynced and renamed onto the target. A process
killed mid-write (``kill -9``, power loss) leaves only that temporary; ``sweep_stale_temporaries``
removes the ones whose writer no longer runs on this host.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.(?P<host>[^.]+)\.(?P<pid>\d+)\.tmp(?:\.[^.]*)?$")


def this_host() -> str:
    """This machine's host name, dots replaced by ``_`` so that it is one name component."""
    return socket.gethostname().replace(".", "_")


def process_is_running(pid: int) -> bool:
    """Whether a process with this PID exists on this host (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary_path(target: str | Path) -> Path:
    """The temporary file this process writes ``target`` through (same folder, same suffix)."""
    target = Path(target)
    return target.with_name(f".{target.stem}.{this_host()}.{os.getpid()}.tmp{target.suffix}")


def fsync_path(path: str | Path) -> None:
    """Flushes a file's (or a folder's) data and metadata to disk."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``target``; on success fsyncs it and renames it onto ``target``.

    The body writes (and closes) the file at the yielded path. The temporary lives in the same
    folder, so the final ``os.replace`` is atomic on POSIX: readers see the old ``target`` or the
    complete new one. On any exception the temporary file is removed and ``target`` is left as it
    was; if the process is killed instead, ``sweep_stale_temporaries`` removes it later.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    temporary.unlink(missing_ok=True)  # left by an earlier process that had this PID
    try:
        yield temporary
        fsync_path(temporary)
        os.replace(temporary, target)
        fsync_path(target.parent)  # makes the rename itself durable
    finally:
        temporary.unlink(missing_ok=True)


def sweep_stale_temporaries(root: str | Path) -> list[Path]:
    """Removes the temporaries under ``root`` whose writer no longer runs on this host.

    Only files named by ``temporary_path`` are considered. Those written from other hosts are
    left alone (on a shared file system their writer may still be running); symbolic links to
    folders are not followed.

    Returns:
        The files removed, sorted.
    """
    host, removed = this_host(), []
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMPORARY.match(name)
            if match and match["host"] == host and not process_is_running(int(match["pid"])):
                path = Path(folder) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return sorted(removed)
