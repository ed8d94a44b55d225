"""Cheap checks that a persisted file can be read; each raises when it cannot.

They back ``exists()`` of the project's datasets, so a truncated or corrupt file counts as missing:
``kedro run --only-missing-outputs`` redoes it and the missing-inputs check names it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def check_parquet(path: Path) -> None:
    """Reads the footer (magic bytes, metadata) and the schema, not the data."""
    import pyarrow.parquet as pq

    pq.read_schema(path)


def check_json(path: Path) -> None:
    """Parses the whole file."""
    json.loads(path.read_bytes())


def check_text(path: Path) -> None:
    """Decodes the whole file as UTF-8."""
    path.read_bytes().decode("utf-8")


def check_zip(path: Path) -> None:
    """Opens the zip's central directory (a ``.keras`` file is a zip)."""
    with zipfile.ZipFile(path):
        pass
