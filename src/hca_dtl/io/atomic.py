"""A mixin that makes a local-file Kedro dataset's saves atomic and its ``exists()`` mean readable."""

from __future__ import annotations

import copy
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import DatasetError, VersionNotFoundError

from hca_dtl.data.files import atomic_path


class AtomicFileDataset:
    """Put before a versionable file dataset class; subclasses define ``_check_readable(path)``.

    ``save`` writes the data to a temporary file beside the final path (inside the version folder
    when versioned), fsyncs it and renames it onto the final name (``hca_dtl.data.files.atomic_path``).
    A save that fails or is killed part-way therefore never leaves a partial file under the final
    name, and Kedro's latest-version lookup, which only sees final names, never picks one.

    ``exists()`` is True only when the persisted file (the latest version, if versioned) passes
    ``_check_readable``; ``read_error()`` says why it does not. Local files only.
    """

    def save(self, data: Any) -> None:
        with atomic_path(self._local(self._get_save_path())) as temporary:
            self._write(data, temporary)

    def _write(self, data: Any, path: Path) -> None:
        """Writes ``data`` to ``path`` with the base class's own save. That save is taken without
        Kedro's wrapper (logging, error messages, versioning): this ``save`` already runs inside one."""
        writer = copy.copy(self)
        writer._filepath, writer._version = PurePosixPath(path), None
        super().save.__wrapped__(writer, data)  # type: ignore[misc]

    def _exists(self) -> bool:
        return self._persisted_path() is not None and self.read_error() is None

    def read_error(self) -> str | None:
        """Why the persisted file cannot be read (naming it); None if it reads or does not exist."""
        path = self._persisted_path()
        if path is None:
            return None
        try:
            self._check_readable(path)
        except Exception as error:
            return f"'{path}' cannot be read ({type(error).__name__}: {error})"
        return None

    def _persisted_path(self) -> Path | None:
        """The file a load would read, if it exists."""
        try:
            path = self._local(self._get_load_path())
        except VersionNotFoundError:
            return None
        return path if path.is_file() else None

    def _local(self, path: PurePosixPath) -> Path:
        protocol = getattr(self, "_protocol", "file")
        if protocol != "file":
            raise DatasetError(f"{type(self).__name__} reads and writes local files only, "
                               f"not '{protocol}://' ones")
        return Path(path)
