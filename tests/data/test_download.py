"""Downloads against a local HTTP server on 127.0.0.1 that can drop connections and ignore Range."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hca_dtl.data.download import BBBC021_SOURCES, DownloadError, fetch, fetch_all
from hca_dtl.data.schema import InputDataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "download"
PAYLOAD = (FIXTURES / "sample_moa.csv").read_bytes()
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class ServerState:
    """What the server does (``behaviours``) and what it saw (``requests``: (path, Range))."""

    files: dict[str, bytes]
    behaviours: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    base_url: str = ""

    def ranges(self) -> list[str | None]:
        return [r for _, r in self.requests]


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if "fail_once_500" in state.behaviours:
                state.behaviours.discard("fail_once_500")
                self.send_error(503)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and "ignore_range" not in state.behaviours:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if "interrupt_once" in state.behaviours:
                state.behaviours.discard("interrupt_once")
                self.wfile.write(body[start : start + (len(body) - start) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def server() -> Iterator[ServerState]:
    state = ServerState(files={"/data/sample_moa.csv": PAYLOAD, "/data/other.csv": PAYLOAD[:100]})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_plain_download_with_checksum(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "raw" / "moa.csv"
    url = f"{server.base_url}/data/sample_moa.csv"
    assert fetch(url, dest, sha256=DIGEST, size=len(PAYLOAD), progress=True) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("moa.csv.part").exists()
    assert server.ranges() == [None]


def test_valid_cache_makes_no_request(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    url = f"{server.base_url}/data/sample_moa.csv"
    fetch(url, dest, sha256=DIGEST, progress=False)
    fetch(url, dest, sha256=DIGEST, progress=False)
    fetch(url, dest, progress=False)  # exists, nothing to check: still cached
    assert len(server.requests) == 1
    # A cached file that no longer matches its checksum is fetched again.
    dest.write_bytes(b"stale")
    fetch(url, dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_interrupted_transfer_resumes_with_range(server: ServerState, tmp_path: Path) -> None:
    server.behaviours.add("interrupt_once")
    dest = tmp_path / "moa.csv"
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges() == [None, f"bytes={len(PAYLOAD) // 3}-"]


def test_partial_file_from_an_earlier_run_is_resumed(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    dest.with_name("moa.csv.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges() == ["bytes=1000-"]


def test_complete_partial_file_is_finished_without_body(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    dest.with_name("moa.csv.part").write_bytes(PAYLOAD)
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges() == [f"bytes={len(PAYLOAD)}-"]  # answered 416: nothing left


def test_stale_partial_file_longer_than_the_file_is_replaced(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    dest.with_name("moa.csv.part").write_bytes(b"x" * (len(PAYLOAD) + 10))
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges() == [f"bytes={len(PAYLOAD) + 10}-", None]


def test_server_ignoring_range_restarts_from_zero(server: ServerState, tmp_path: Path) -> None:
    server.behaviours |= {"interrupt_once", "ignore_range"}
    dest = tmp_path / "moa.csv"
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD  # not the first third twice
    assert server.ranges() == [None, f"bytes={len(PAYLOAD) // 3}-"]


def test_server_error_is_retried(server: ServerState, tmp_path: Path) -> None:
    server.behaviours.add("fail_once_500")
    dest = tmp_path / "moa.csv"
    fetch(f"{server.base_url}/data/sample_moa.csv", dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_wrong_checksum_deletes_and_names_digests(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    url = f"{server.base_url}/data/sample_moa.csv"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest, sha256=wrong, progress=False)
    message = str(caught.value)
    assert url in message and wrong in message and DIGEST in message
    assert isinstance(caught.value, InputDataError)
    assert not dest.exists() and not dest.with_name("moa.csv.part").exists()


def test_wrong_size_is_rejected(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "moa.csv"
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD)} bytes, expected 5"):
        fetch(f"{server.base_url}/data/sample_moa.csv", dest, size=5, progress=False)
    assert not dest.exists()


def test_missing_file_fails_without_retry(server: ServerState, tmp_path: Path) -> None:
    dest = tmp_path / "nothing.csv"
    url = f"{server.base_url}/data/nothing.csv"
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        fetch(url, dest, progress=False)
    assert str(dest) in str(caught.value) and url in str(caught.value)
    assert len(server.requests) == 1


def test_no_network_fails_fast_and_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/BBBC021_v1_moa.csv"
    dest = tmp_path / "BBBC021_v1_moa.csv"
    started = time.perf_counter()
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest, retries=3, progress=False)
    assert time.perf_counter() - started < 2.0
    message = str(caught.value)
    assert url in message and str(dest) in message and "by hand" in message
    assert not dest.exists()


def test_dns_failure_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    url = "https://data.example.invalid/BBBC021_v1_image.csv"
    dest = tmp_path / "BBBC021_v1_image.csv"
    with pytest.raises(DownloadError, match="no network") as caught:
        fetch(url, dest, retries=3, progress=False)
    assert url in str(caught.value) and str(dest) in str(caught.value)


def test_fetch_all(server: ServerState, tmp_path: Path) -> None:
    sources = {
        "moa_metadata": {"url": f"{server.base_url}/data/sample_moa.csv", "sha256": DIGEST},
        "image_metadata": {"url": f"{server.base_url}/data/other.csv", "filename": "image.csv", "size": 100},
        "layout": "sqlite",  # an option beside the sources, not a file
    }
    paths = fetch_all(sources, tmp_path / "raw", progress=False)
    assert paths == {
        "moa_metadata": tmp_path / "raw" / "sample_moa.csv",
        "image_metadata": tmp_path / "raw" / "image.csv",
    }
    assert paths["image_metadata"].read_bytes() == PAYLOAD[:100]
    with pytest.raises(ValueError, match="'export'.*url"):
        fetch_all({"export": {"filename": "x.sqlite"}}, tmp_path)


def test_default_sources_are_complete() -> None:
    assert set(BBBC021_SOURCES) == {"image_metadata", "moa_metadata", "export"}
    for source in BBBC021_SOURCES.values():
        assert source["url"].startswith("https://") and source["url"].endswith(source["filename"])
