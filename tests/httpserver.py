"""A real HTTP server on 127.0.0.1 for ``call: http`` tests (stdlib, in a thread)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse


def big_catalog(size_bytes: int) -> dict[str, Any]:
    products = []
    total = 0
    i = 0
    while total < size_bytes:
        product = {
            "id": i,
            "name": f"product-{i:07d}",
            "category": ["books", "tools", "garden", "toys", "food"][i % 5],
            "price": round(1 + (i * 7919) % 500 / 3, 2),
            "stock": (i * 31) % 17,
            "description": f"item {i} " + "lorem ipsum dolor sit amet " * 3,
        }
        products.append(product)
        total += len(json.dumps(product))
        i += 1
    return {"products": products}


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers bytes or JSON: what every test server needs."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers=headers)


S = TypeVar("S", bound=socketserver.BaseServer)


@contextmanager
def in_background(server: S) -> Iterator[S]:
    """Serve from a daemon thread; shut down, close and join when the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Handler(QuietHandler):
    server: LocalHTTPServer

    def do_GET(self) -> None:
        self._route("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._route("POST", self.rfile.read(length))

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._route("PUT", self.rfile.read(length))

    def _route(self, method: str, body: bytes) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        self.server.requests.append(
            {
                "method": method,
                "path": path,
                "query": url.query,
                "headers": dict(self.headers),
                "body": body,
            }
        )
        if path == "/json":
            self._json({"message": "hello", "n": 42})
        elif path == "/array":
            self._json([1, 2, 3])
        elif path == "/text":
            self._send(200, b"plain text", "text/plain; charset=utf-8")
        elif path == "/bytes":
            self._send(200, bytes(range(256)), "application/octet-stream")
        elif path == "/big":
            size = int(query.get("size", "2000000"))
            self._send(200, self.server.catalog(size), "application/json")
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._json({"error": f"status {code}"}, code)
        elif path == "/echo":
            self._json(
                {
                    "method": method,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body) if body else None,
                }
            )
        elif path.startswith("/pets/"):
            self._json({"id": path.rsplit("/", 1)[1]})
        elif path == "/redirect":
            self._send(302, b"", "text/plain", {"Location": "/json"})
        elif path == "/flaky":
            key = query.get("key", "default")
            self.server.attempts[key] = self.server.attempts.get(key, 0) + 1
            if self.server.attempts[key] <= int(query.get("fail", "1")):
                self._json({"error": "try again"}, 503)
            else:
                self._json({"attempts": self.server.attempts[key]})
        elif path == "/analyze":
            products = json.loads(body).get("products", [])
            self._json(
                {"count": len(products), "categories": sorted({p["category"] for p in products})}
            )
        else:
            self._json({"error": "not found"}, 404)


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self._catalogs: dict[int, bytes] = {}

    def catalog(self, size: int) -> bytes:
        if size not in self._catalogs:
            self._catalogs[size] = json.dumps(big_catalog(size)).encode()
        return self._catalogs[size]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def serving() -> Iterator[LocalHTTPServer]:
    with in_background(LocalHTTPServer()) as server:
        yield server
