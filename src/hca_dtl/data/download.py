"""Fetching the public BBBC021 files: resumable, verified, cached downloads.

Uses the standard library's ``urllib.request``: it streams, sends ``Range`` headers and reports
status codes, which is all a resumable download needs; ``requests`` would add no capability here.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tqdm.auto import tqdm

from hca_dtl.data.schema import InputDataError

logger = logging.getLogger(__name__)

# Keys match the ingestion manifest (``export``, ``image_metadata``, ``moa_metadata``). No
# checksums are pinned: none is published next to these files.
BBBC021_SOURCES: dict[str, dict[str, Any]] = {
    "image_metadata": {
        "url": "https://data.broadinstitute.org/bbbc/BBBC021/BBBC021_v1_image.csv",
        "filename": "BBBC021_v1_image.csv",
    },
    "moa_metadata": {
        "url": "https://data.broadinstitute.org/bbbc/BBBC021/BBBC021_v1_moa.csv",
        "filename": "BBBC021_v1_moa.csv",
    },
    # The per-cell database of Ljosa et al. 2013 in the Cell Painting Gallery (cpg0010). This path
    # is the one the cytomining/cytominergallery README links to; it was not reachable from the
    # machines this was written on, so it is unverified here. Check it with
    # `aws s3 ls --no-sign-request s3://cellpainting-gallery/cpg0010-caie-drugresponse/` if it fails.
    "export": {
        "url": "https://cellpainting-gallery.s3.amazonaws.com/cpg0010-caie-drugresponse/broad-az/"
        "workspace/backend/ljosa_2013/analysis_batch_stable/ljosa_jbiomolscreen_2013.sqlite",
        "filename": "ljosa_jbiomolscreen_2013.sqlite",
    },
}

CHUNK_BYTES = 1 << 20
# Connection failures that mean "no route to the server": retrying will not help.
_OFFLINE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


class DownloadError(InputDataError):
    """A file could not be fetched or failed verification; the message names URL and destination."""


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` file keeps what arrived, so a retry resumes."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(path: Path, sha256: str | None, size: int | None) -> bool:
    """Whether ``path`` exists and matches the expected size and checksum (those given)."""
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False
    return sha256 is None or _sha256(path) == sha256.lower()


def _by_hand(url: str, dest: Path) -> str:
    return f"Download '{url}' by hand and place it at '{dest}'."


def _is_offline(error: urllib.error.URLError) -> bool:
    reason = error.reason
    if isinstance(reason, socket.gaierror):  # DNS failure
        return True
    return isinstance(reason, OSError) and reason.errno in _OFFLINE_ERRNOS


def _total_size(response, offset: int) -> int | None:
    """Full file size in bytes from ``Content-Range`` (206) or ``Content-Length`` (200)."""
    content_range = response.headers.get("Content-Range")
    if content_range:
        match = re.search(r"/(\d+)$", content_range)
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def _transfer(url: str, part: Path, timeout: float, progress: bool, label: str) -> None:
    """Requests the rest of ``url`` beyond what ``part`` holds and appends it.

    Raises:
        _Interrupted: the body ended before its announced length, or the connection broke.
        urllib.error.URLError: the request itself failed (HTTP error, no connection).
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing beyond offset: complete, or a stale part
            match = re.search(r"/(\d+)$", error.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return
            part.unlink()
            raise _Interrupted(f"'{part}' does not fit the file on the server; restarting") from error
        raise
    with response:
        if offset and response.status != 206:
            logger.info("%s ignored the Range request; downloading from the start.", url)
            offset = 0
        elif offset:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise _Interrupted(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
        total = _total_size(response, offset)
        received = offset
        with part.open("ab" if offset else "wb") as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=label,
            disable=not progress, leave=False,
        ) as bar:
            try:
                for block in iter(lambda: response.read(CHUNK_BYTES), b""):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, HTTPException) as error:  # reset, timeout, IncompleteRead
                raise _Interrupted(f"{type(error).__name__}: {error}") from error
    if total is not None and received < total:
        raise _Interrupted(f"connection closed after {received} of {total} bytes")


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 30,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Downloads ``url`` to ``dest`` unless a valid copy is already there.

    The bytes go to ``dest.part`` first; an interrupted transfer is resumed with an HTTP
    ``Range`` request (restarting from byte 0 if the server ignores it), and only a file that
    matches ``size`` (bytes) and ``sha256`` (hex) is renamed to ``dest``. A ``dest`` that already
    matches them (or merely exists, when neither is given) is returned without any request.

    Args:
        timeout: seconds to wait for the server on connect and on each read.
        retries: further attempts after an interrupted transfer, a timeout or a 5xx/429 response.
            Refused connections, DNS failures and other HTTP errors fail at once.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DownloadError: no connection, an HTTP error, too many interruptions, or a size/checksum
            mismatch (the bad download is deleted). The message names ``url`` and ``dest``.
    """
    dest = Path(dest)
    if _is_valid(dest, sha256, size):
        logger.info("Using cached %s", dest)
        return dest
    if dest.exists():
        logger.warning("%s does not match its expected size/checksum; downloading it again.", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if size is not None and part.exists() and part.stat().st_size > size:
        part.unlink()

    for attempt in range(retries + 1):
        try:
            if size is None or not part.exists() or part.stat().st_size < size:
                _transfer(url, part, timeout, progress, dest.name)
            break
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 429:
                raise DownloadError(
                    f"HTTP {error.code} {error.reason} for '{url}'. {_by_hand(url, dest)}"
                ) from error
            problem = f"HTTP {error.code}"
        except urllib.error.URLError as error:
            if _is_offline(error):
                raise DownloadError(
                    f"Cannot reach the server of '{url}' ({error.reason}); no network? "
                    f"{_by_hand(url, dest)}"
                ) from error
            problem = str(error.reason)
        except (_Interrupted, TimeoutError, ConnectionError, HTTPException) as error:
            problem = str(error)
        if attempt == retries:
            raise DownloadError(
                f"Gave up on '{url}' after {retries + 1} attempts ({problem}). "
                f"The partial file '{part}' is kept for a later resume. {_by_hand(url, dest)}"
            )
        logger.warning("Download of %s interrupted (%s); retry %d/%d", url, problem, attempt + 1, retries)
        time.sleep(min(0.5 * attempt, 5.0))

    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DownloadError(f"'{url}' gave {actual_size} bytes, expected {size}; deleted.")
    if sha256 is not None:
        actual = _sha256(part)
        if actual != sha256.lower():
            part.unlink()
            raise DownloadError(
                f"Checksum mismatch for '{url}': expected sha256 {sha256.lower()}, got {actual}; "
                f"the download was deleted. {_by_hand(url, dest)}"
            )
    os.replace(part, dest)
    logger.info("Downloaded %s (%d bytes) to %s", url, actual_size, dest)
    return dest


def fetch_all(sources: Mapping[str, Any], dest_dir: str | Path, *, progress: bool = True) -> dict[str, Path]:
    """Fetches every source into ``dest_dir``.

    Args:
        sources: name → ``{url, filename?, sha256?, size?}`` (e.g. ``BBBC021_SOURCES``); the file
            name defaults to the last part of the URL path. Entries that are not mappings
            (options such as ``layout`` kept beside the sources in the config) are skipped.
        dest_dir: folder for the files (created if missing).

    Returns:
        name → local path, for each fetched source.
    """
    paths = {}
    for name, source in sources.items():
        if not isinstance(source, Mapping):
            continue
        if not source.get("url"):
            raise ValueError(f"Download source {name!r} has no 'url'.")
        filename = source.get("filename") or Path(urlparse(source["url"]).path).name
        if not filename:
            raise ValueError(f"Download source {name!r}: cannot tell a file name from its URL; set 'filename'.")
        paths[name] = fetch(
            source["url"],
            Path(dest_dir) / filename,
            sha256=source.get("sha256"),
            size=source.get("size"),
            progress=progress,
        )
    return paths
