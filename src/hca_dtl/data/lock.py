"""One run at a time per folder: a lock file naming its holder (PID, host, start time, command).

Two runs writing one data folder corrupt each other (one run's cells with the other's fold plan).
``RunLock(folder)`` is taken before a run writes anything and released when it ends. The lock is
the file ``<folder>/run.lock``, created atomically (a hard link of a complete temporary file, which
works on NFS too), holding its holder as JSON. Locks of different folders do not see each other:
a folder narrower than the data root is safe only for runs that read and write nothing outside it.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from hca_dtl.data.files import process_is_running, temporary_path, this_host

logger = logging.getLogger(__name__)

LOCK_NAME = "run.lock"


class RunLockedError(RuntimeError):
    """Another run holds the lock of the folder this run would write."""


@dataclass(frozen=True)
class Holder:
    """The process holding a lock: ``started`` is ISO 8601 (UTC), ``command`` its command line."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def this_process(cls) -> Holder:
        return cls(pid=os.getpid(), host=this_host(),
                   started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command=shlex.join(sys.argv))

    def is_stale(self) -> bool:
        """Whether it certainly holds nothing any more: its process has gone from this host, or it
        is this very process (a run of it that ended without releasing, e.g. on Ctrl-C)."""
        if self.host != this_host():
            return False
        return self.pid == os.getpid() or not process_is_running(self.pid)

    def __str__(self) -> str:
        return f"PID {self.pid} on host {self.host}, started {self.started} UTC: `{self.command}`"


class RunLock:
    """An exclusive lock on the folder ``scope``, held through the file ``scope/run.lock``.

    ``acquire`` fails at once with ``RunLockedError`` naming the holder while a live process holds
    the lock; takes over a stale one (its holder has gone from this host), with a warning; never
    breaks a lock held from another host, whose processes this host cannot see. Usable as a
    context manager.
    """

    def __init__(self, scope: str | Path) -> None:
        self.scope = Path(scope)
        self.path = self.scope / LOCK_NAME
        self.holder: Holder | None = None

    def acquire(self) -> Holder | None:
        """Takes the lock for this process.

        Returns:
            The stale holder taken over, or None.

        Raises:
            RunLockedError: another process holds it (or its lock file is unreadable); the message
                names the holder and what to do.
        """
        me = Holder.this_process()
        self.scope.mkdir(parents=True, exist_ok=True)
        taken_over = None
        while not self._create(me):
            holder = self._read()
            if holder is None:
                continue  # released between our attempt and our look
            if not holder.is_stale():
                raise RunLockedError(self._held_message(holder))
            logger.warning("Taking over the lock %s from a run that ended without releasing it (%s)",
                           self.path, holder)
            if self._read() == holder:  # not taken over by another run meanwhile
                self.path.unlink(missing_ok=True)
            taken_over = holder
        self.holder = me
        return taken_over

    def check_free(self) -> None:
        """Raises ``RunLockedError`` (naming the holder) if a live process holds the lock; takes
        nothing."""
        holder = self._read()
        if holder is not None and not holder.is_stale():
            raise RunLockedError(self._held_message(holder))

    def release(self) -> None:
        """Removes the lock if this process still holds it; does nothing otherwise."""
        if self.holder is None:
            return
        try:
            current = self._read()
        except RunLockedError:
            current = None
        if current == self.holder:
            self.path.unlink(missing_ok=True)
        else:
            logger.warning("The lock %s is no longer this run's (now: %s); left as it is",
                           self.path, current)
        self.holder = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def _create(self, holder: Holder) -> bool:
        """Creates the lock file holding ``holder``, complete at once; False if it exists."""
        temporary = temporary_path(self.path)
        try:
            temporary.write_text(json.dumps(asdict(holder)) + "\n")
            os.link(temporary, self.path)
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def _read(self) -> Holder | None:
        """The holder named in the lock file; None if there is no lock file."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return Holder(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise RunLockedError(
                f"The lock file '{self.path}' cannot be read ({error}). If no run is using "
                f"'{self.scope}', delete it by hand and start again."
            ) from error

    def _held_message(self, holder: Holder) -> str:
        if holder.host != this_host():
            return (
                f"Another run holds '{self.scope}' from host {holder.host}: {holder}. This host "
                f"cannot tell whether it still runs. If it does not, delete '{self.path}' by hand "
                "and start again."
            )
        return (
            f"Another run is using '{self.scope}': {holder}. Two runs in one data folder corrupt "
            f"each other's files. Wait for it to end or stop it (kill {holder.pid}); to run side "
            "by side, use another environment (--env=...: each writes under its own data_root)."
        )
