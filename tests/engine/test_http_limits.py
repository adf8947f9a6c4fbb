"""HTTP responses are streamed and capped (HTTP_MAX_RESPONSE_BYTES), and a too-large one fails fast.

Before the cap a 200 MB response was held whole, several times over, and the
run then retried it; now it fails once, non-retryably, naming the variable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.harness import make_harness, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.runtime.devserver import DevServer

MIB = 1024 * 1024


class _UnsizedHandler(BaseHTTPRequestHandler):
    """``/stream?size=N``: N bytes with no Content-Length (HTTP/1.0, ends at close)."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        size = int(parse_qs(urlparse(self.path).query)["size"][0])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                self.wfile.write(chunk[: size - sent])
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its cap, as it should


@pytest.fixture
def unsized_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UnsizedHandler)
    server.daemon_threads = True
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> str:
    return workflow(
        f"  - get:\n      call: http\n      with:\n        method: get\n        endpoint: {url}\n"
    )


def _hits(server: LocalHTTPServer, path: str) -> int:
    return sum(1 for r in server.requests if r["path"] == path)


async def test_a_response_over_the_cap_fails_once_naming_the_variable(
    temporal_server: DevServer, tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    before = _hits(http_server, "/big")
    async with make_harness(temporal_server, tmp_path, HTTP_MAX_RESPONSE_BYTES=str(MIB)) as h:
        started = time.monotonic()
        error = await h.fail(_get(f"{http_server.url}/big?size=3000000"))
        elapsed = time.monotonic() - started
        assert "HTTP_MAX_RESPONSE_BYTES=1048576" in error["detail"]
        assert error["title"] == "HTTP response too large" and error["instance"] == "/do/0/get"
        assert _hits(http_server, "/big") == before + 1  # not retried
        assert elapsed < 10
        # Under the cap, the same endpoint works.
        out = await h.run(_get(f"{http_server.url}/big?size=500000"))
        assert len(out["products"]) > 1000


async def test_an_unsized_response_is_cut_off_while_streaming(
    temporal_server: DevServer, tmp_path: Path, unsized_server: ThreadingHTTPServer
) -> None:
    """No Content-Length to refuse up front: reading stops just past the cap, not at the end."""
    host, port = unsized_server.server_address[:2]
    url = f"http://{host!s}:{port}/stream?size={200 * MIB}"
    async with make_harness(temporal_server, tmp_path, HTTP_MAX_RESPONSE_BYTES=str(MIB)) as h:
        started = time.monotonic()
        error = await h.fail(_get(url))
        elapsed = time.monotonic() - started
    detail = error["detail"]
    assert "HTTP_MAX_RESPONSE_BYTES=1048576" in detail, detail
    read = int(detail.split("(read ")[1].split(" ")[0])
    assert MIB < read <= 2 * MIB
    assert unsized_server.hits == 1  # type: ignore[attr-defined]
    assert elapsed < 10


async def test_the_cap_never_exceeds_the_largest_payload_the_claim_check_stores(
    temporal_server: DevServer, tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    env = {"HTTP_MAX_RESPONSE_BYTES": str(100 * MIB), "CLAIMCHECK_MAX_PAYLOAD_BYTES": str(MIB)}
    async with make_harness(temporal_server, tmp_path, **env) as h:
        error = await h.fail(_get(f"{http_server.url}/big?size=3000000"))
    assert "HTTP_MAX_RESPONSE_BYTES=1048576" in error["detail"]
    assert "CLAIMCHECK_MAX_PAYLOAD_BYTES" in error["detail"]
