"""Local stand-ins for the services Zigflow's tests reach, all on 127.0.0.1.

- :class:`JsonServer` serves ``db.json`` the way Zigflow's end-to-end mock does
  (``npx json-server ./data/db.json`` in its ``tests/e2e/compose.yaml``):
  ``GET /posts`` is the collection, ``GET /posts/2`` the item whose ``id`` is
  ``"2"``, an unknown id is 404 with ``{}``; ``POST``/``PUT``/``PATCH``/``DELETE``
  change an in-memory copy. Workflows reach it as ``$env.HTTP_MOCK``
  (``host:port``), as Zigflow's Taskfile exports ``ZIGGY_HTTP_MOCK``.
- :class:`HttpsMock` is Zigflow's ``internal/e2etest/httpmock.go``: an HTTP
  CONNECT proxy that terminates TLS with a CA generated for the test, so a
  workflow calling ``https://jsonplaceholder.typicode.com/users/3`` unchanged is
  answered from fixtures without DNS or internet. The worker gets
  ``HTTPS_PROXY``/``SSL_CERT_FILE``/``NO_PROXY`` (:meth:`HttpsMock.worker_env`),
  which httpx honours. It also records what it was sent.
- :class:`Recorder` is ``internal/e2etest/httprecorder.go``: plain HTTP,
  records every request and answers 200 with a fixed body.

Every server binds port 0 (the kernel picks it) and stops when its context ends.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DB_JSON = Path(__file__).parent / "db.json"


@dataclass
class Recorded:
    method: str
    host: str
    path: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A fixture answered with a status other than 200 (Zigflow's ``MockResponse``)."""

    status: int
    body: Any


@dataclass(frozen=True)
class Echo:
    """Answers a JSON body with that body plus ``extra`` (jsonplaceholder's POST /posts)."""

    extra: dict[str, Any]


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, value: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class JsonServer:
    """``json-server`` over ``db.json``: collections at ``/<name>``, items at ``/<name>/<id>``."""

    def __init__(self, db: dict[str, Any]) -> None:
        self.db = copy.deepcopy(db)
        self.lock = threading.Lock()
        self.address = ""  # host:port once started

    @contextmanager
    def running(self) -> Iterator[JsonServer]:
        owner = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                status, value = owner.get(urlsplit(self.path).path)
                self.reply(status, value)

            def do_POST(self) -> None:
                status, value = owner.change("POST", urlsplit(self.path).path, self.body())
                self.reply(status, value)

            def do_PUT(self) -> None:
                status, value = owner.change("PUT", urlsplit(self.path).path, self.body())
                self.reply(status, value)

            def do_PATCH(self) -> None:
                status, value = owner.change("PATCH", urlsplit(self.path).path, self.body())
                self.reply(status, value)

            def do_DELETE(self) -> None:
                status, value = owner.change("DELETE", urlsplit(self.path).path, b"")
                self.reply(status, value)

        with _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as address:
            self.address = address
            yield self

    def _find(self, path: str) -> tuple[str, str | None]:
        parts = [p for p in path.split("/") if p]
        if not parts or len(parts) > 2:
            return "", None
        return parts[0], parts[1] if len(parts) == 2 else None

    def get(self, path: str) -> tuple[int, Any]:
        name, item = self._find(path)
        with self.lock:
            collection = self.db.get(name)
            if collection is None:
                return 404, {}
            if item is None:
                return 200, collection
            if isinstance(collection, list):
                for entry in collection:
                    if str(entry.get("id")) == item:
                        return 200, entry
            return 404, {}

    def change(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        name, item = self._find(path)
        value = json.loads(body) if body else {}
        with self.lock:
            collection = self.db.get(name)
            if not isinstance(collection, list):
                return 404, {}
            if method == "POST" and item is None:
                value.setdefault("id", str(len(collection) + 1))
                collection.append(value)
                return 201, value
            for index, entry in enumerate(collection):
                if str(entry.get("id")) == item:
                    if method == "DELETE":
                        del collection[index]
                        return 200, entry
                    updated = {**entry, **value} if method == "PATCH" else {**value, "id": item}
                    collection[index] = updated
                    return 200, updated
            return 404, {}


@contextmanager
def json_server(db_file: Path = DB_JSON) -> Iterator[JsonServer]:
    with JsonServer(json.loads(db_file.read_text())).running() as server:
        yield server


@dataclass
class HttpsMock:
    """An intercepting HTTPS proxy answering fixed routes for the given hosts."""

    routes: dict[str, Any]
    proxy_url: str = ""
    ca_file: str = ""
    requests: list[Recorded] = field(default_factory=list)

    def worker_env(self) -> dict[str, str]:
        """What a worker needs to route its HTTPS calls through the mock (httpx reads these)."""
        return {
            "HTTPS_PROXY": self.proxy_url,
            "HTTP_PROXY": self.proxy_url,
            "SSL_CERT_FILE": self.ca_file,
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def lookup(self, path: str, body: bytes = b"") -> tuple[int, Any]:
        value = self.routes.get(path)
        if path not in self.routes:
            return 404, {"error": "not found"}
        if isinstance(value, Echo):
            return 201, {**(json.loads(body) if body else {}), **value.extra}
        if isinstance(value, Reply):
            return value.status, value.body
        return 200, value

    def requests_for(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


def _certificates(hosts: list[str], directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A throw-away CA (written to ``directory``) and a server context whose leaf it signs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "workflow-runner zigflow mock CA")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    ca_file = directory / "mock-ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    chain = directory / "mock-leaf.pem"
    chain.write_bytes(
        leaf.public_bytes(pem)
        + leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return ca_file, context


@contextmanager
def https_mock(hosts: list[str], routes: dict[str, Any], directory: Path) -> Iterator[HttpsMock]:
    """Zigflow's ``StartHTTPSMock``: a CONNECT proxy answering ``routes`` for ``hosts``."""
    ca_file, context = _certificates(hosts, directory)
    mock = HttpsMock(routes, ca_file=str(ca_file))
    lock = threading.Lock()

    class Routes(_Quiet):
        """Answers requests inside a tunnel (and plain-HTTP ones) from the fixtures."""

        def answer(self) -> None:
            url = urlsplit(self.path)
            body = self.body()
            host = url.hostname or str(self.headers.get("Host", ""))
            with lock:
                mock.requests.append(Recorded(self.command, host, url.path, body))
            status, value = mock.lookup(url.path, body)
            self.reply(status, value)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    class Proxy(Routes):
        def do_CONNECT(self) -> None:
            self.send_response(200, "Connection Established")
            self.end_headers()
            self.wfile.flush()
            try:
                tunnel = context.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                self.close_connection = True
                return
            try:
                Routes(tunnel, self.client_address, self.server)
            except (ssl.SSLError, OSError):
                pass
            finally:
                self.close_connection = True
                with _suppress():
                    tunnel.close()

    with _serve(ThreadingHTTPServer(("127.0.0.1", 0), Proxy)) as address:
        mock.proxy_url = f"http://{address}"
        yield mock


def _suppress() -> contextlib.suppress:
    return contextlib.suppress(OSError)


@dataclass
class Recorder:
    """Records every request; answers 200 with ``response`` (Zigflow's ``HTTPRecorder``)."""

    response: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)

    def requests_for(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


@contextmanager
def recorder(response: str) -> Iterator[Recorder]:
    rec = Recorder(response)
    lock = threading.Lock()

    class Handler(_Quiet):
        def answer(self) -> None:
            body = self.body()
            with lock:
                rec.requests.append(
                    Recorded(
                        self.command, self.headers.get("Host", ""), urlsplit(self.path).path, body
                    )
                )
            self.reply(200, None, raw=rec.response.encode())

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    with _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as address:
        rec.url = f"http://{address}"
        yield rec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
