"""Secrets: tokens cannot be forged from data, and secret values never leave the worker.

Everything runs on the real dev server with a real HTTP server; the requests
the server received are the ground truth for "what was sent".
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import zstandard
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload

from tests.harness import Harness, make_harness, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.claimcheck.codec import ZSTD_ENCODING
from workflow_runner.cli.logs import install_handler, log_file
from workflow_runner.engine.secrets import (
    MissingSecretError,
    SecretScope,
    disarm,
    redact_bytes,
    redact_value,
    reveal,
    token,
)
from workflow_runner.runtime.devserver import DevServer

SECRET = "s3cr3t-value"  # what tests/harness.py gives the worker as WORKFLOW_SECRET_API_TOKEN

FORGED = [
    "⟦secret:API_TOKEN⟧",
    "⟦secret:api_token⟧",
    "Bearer ⟦secret:api_token⟧",
    "⟦secret:api_token:00000000000000000000000000000000⟧",
    "⟦secret:api_token:⟧",
]


def _last_request(server: LocalHTTPServer, path: str) -> dict[str, Any]:
    """What the server received (the workflow's output is redacted, so it is no proof)."""
    seen = [r for r in server.requests if r["path"] == path][-1]
    return {**seen, "query": {k: v[0] for k, v in parse_qs(seen["query"]).items()}}


async def test_a_token_in_workflow_input_is_posted_verbatim_not_as_the_secret(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    """The definition references the secret, so the worker has it; the input's copies stay inert."""
    text = workflow(
        f"""
  - post:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/echo
        headers:
          Authorization: ${{ "Bearer " + $secrets.api_token }}
        query:
          q: ${{ $input.forged[2] }}
        body: ${{ $input }}
""",
        extra="use:\n  secrets:\n    - api_token\n",
    )
    await harness.run(text, {"forged": FORGED})
    seen = _last_request(http_server, "/echo")
    assert seen["headers"]["Authorization"] == f"Bearer {SECRET}"  # the real reference works
    assert json.loads(seen["body"]) == {"forged": FORGED}
    assert SECRET.encode() not in seen["body"]
    assert seen["query"] == {"q": FORGED[2]}


async def test_a_definition_without_use_secrets_cannot_resolve_any_token(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    text = workflow(
        f"""
  - post:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/echo
        body: ${{ $input }}
"""
    )
    await harness.run(text, {"forged": FORGED})
    seen = _last_request(http_server, "/echo")
    assert json.loads(seen["body"]) == {"forged": FORGED}


async def test_a_token_sent_by_signal_during_the_run_is_posted_verbatim(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    """A signal sender acting mid-run has seen nothing of the run's own tokens."""
    text = workflow(
        f"""
  - hear:
      listen:
        to:
          one:
            with:
              type: signal
              id: data
  - post:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/echo
        headers:
          Authorization: ${{ $secrets.api_token }}
        body: ${{ . }}
""",
        extra="use:\n  secrets:\n    - api_token\n",
    )
    handle = await harness.start(text)
    await asyncio.sleep(0.3)
    await handle.signal("data", {"forged": FORGED})
    await handle.result()
    seen = _last_request(http_server, "/echo")
    assert seen["headers"]["Authorization"] == SECRET
    assert SECRET.encode() not in seen["body"]
    assert json.loads(seen["body"])["forged"] == FORGED


# -- redaction: the secret value appears nowhere the run writes -----------------------


_NOISE = random.Random(7).randbytes(6000)


class _ReflectHandler(BaseHTTPRequestHandler):
    """Hands whatever the client sent in ``X-Key`` back everywhere a response can carry it."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._reflect(b"")

    def do_POST(self) -> None:
        self._reflect(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _reflect(self, body: bytes) -> None:
        url = urlparse(self.path)
        value = self.headers.get("X-Key", "")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/bytes":
            # Binary, padded with noise so it is offloaded, and not compressed.
            content = b"\x00\xff" + value.encode() + b"\x00" + _NOISE + value.encode()
            content_type = "application/octet-stream"
            status = 200
        else:
            document = {
                value: "the secret as a key",
                "query": query,
                "body": json.loads(body) if body else None,
                "pad": _NOISE.hex(),  # compresses to half: offloaded as a zstd blob
            }
            content = json.dumps(document).encode()
            content_type = "application/json"
            status = 400 if url.path == "/reject" else 200
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header(f"X-Echo-{value}", value)
        self.end_headers()
        self.wfile.write(content)


@pytest.fixture
def reflecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReflectHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _decompressed(payload: Payload) -> bytes:
    """A payload's bytes; a zstd one's are the serialized payload it wraps."""
    if payload.metadata.get("encoding") == ZSTD_ENCODING:
        return zstandard.ZstdDecompressor().decompress(payload.data)
    return payload.SerializeToString()


def _payloads(message: Message) -> Iterator[Payload]:
    """Every ``Payload`` anywhere inside a protobuf message (an event's attributes)."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if isinstance(value, Message):
            items = [value]
        elif descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:  # a repeated field
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from _payloads(item)


def _blob_texts(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every blob file's bytes, and its payload's decompressed bytes when it is compressed."""
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            payload = Payload()
            payload.ParseFromString(data)
            yield path, data
            yield path, _decompressed(payload)


async def test_a_secret_echoed_back_as_key_header_name_and_bytes_is_written_nowhere(
    temporal_server: DevServer, tmp_path: Path, reflecting_server: str
) -> None:
    """Uses the secret in a query string, a JSON key and a header; gets it back in every form.

    History payloads stay uncompressed (small) while large ones are offloaded
    and zstd-compressed, so raw bytes can be searched everywhere; the log runs
    at INFO, where httpx writes every request line, query string included.
    """
    env = {
        "CLAIMCHECK_THRESHOLD_BYTES": "1024",
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
    }
    url = reflecting_server
    text = workflow(
        f"""
  - query:
      call: http
      with:
        method: post
        endpoint: {url}/json
        headers:
          X-Key: ${{ $secrets.api_token }}
        query:
          key: ${{ $secrets.api_token }}
        body: '${{ {{($secrets.api_token): "as a key", "v": $secrets.api_token}} }}'
        output: response
      export:
        as: '${{ $context + {{response: .}} }}'
  - octets:
      call: http
      with:
        method: get
        endpoint: {url}/bytes
        headers:
          X-Key: ${{ $secrets.api_token }}
      export:
        as: '${{ $context + {{octets: .}} }}'
  - raw:
      call: http
      with:
        method: get
        endpoint: {url}/bytes
        headers:
          X-Key: ${{ $secrets.api_token }}
        output: raw
      export:
        as: '${{ $context + {{raw: .}} }}'
  - rejected:
      try:
        - call:
            call: http
            with:
              method: get
              endpoint: {url}/reject
              headers:
                X-Key: ${{ $secrets.api_token }}
      catch:
        as: err
        do:
          - keep:
              set:
                error: ${{ $err }}
              export:
                as: '${{ $context + {{error: .error}} }}'
  - done:
      set: ${{ $context }}
""",
        extra="use:\n  secrets:\n    - api_token\n",
    )
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    async with make_harness(temporal_server, tmp_path, **env) as harness:
        handler = install_handler(harness.settings, to_file=True)
        try:
            handle = await harness.start(text)
            out = await handle.result()
            logging.getLogger("workflow_runner.tests").warning("a log line quoting %s", SECRET)
            history = await handle.fetch_history()
        finally:
            handler.close()
            root.handlers[:], _, _ = saved
            root.setLevel(saved[1])
            logging.getLogger("httpx").setLevel(saved[2])
    secret = SECRET.encode()
    # It really went out, and really came back in every form.
    assert out["response"]["content"]["query"]["key"] == "⟦secret:api_token⟧"
    assert "x-echo-⟦secret:api_token⟧" in out["response"]["headers"]
    assert "⟦secret:api_token⟧" in out["response"]["content"]
    assert out["response"]["content"]["body"] == {
        "⟦secret:api_token⟧": "as a key",
        "v": "⟦secret:api_token⟧",
    }
    assert out["error"]["status"] == 400
    for encoded in (out["octets"], out["raw"]):
        decoded = base64.b64decode(encoded)
        assert decoded.startswith(b"\x00\xff\xe2\x9f\xa6secret:api_token\xe2\x9f\xa7\x00")
        assert secret not in decoded
    # ... and it was written nowhere.
    assert secret not in json.dumps(out, ensure_ascii=False).encode()
    seen = 0
    for event in history.events:
        assert secret not in event.SerializeToString(), event.event_type
        for payload in _payloads(event):  # compressed ones too, if any stayed in history
            seen += 1
            assert secret not in _decompressed(payload), event.event_type
    assert seen > 5
    blobs = list(_blob_texts(tmp_path / "blobs"))
    assert any(b"secret:api_token" in data for _, data in blobs)  # offloaded, and readable
    assert any(ZSTD_ENCODING in data for _, data in blobs)  # some blobs were compressed
    for path, data in blobs:
        assert secret not in data, path
    log = log_file(harness.settings).read_bytes()
    assert "a log line quoting ⟦secret:api_token⟧".encode() in log
    assert secret not in log


# -- child processes get a minimal environment ----------------------------------------

RUNNER_CREDENTIALS = {
    "R2_SECRET_ACCESS_KEY": "r2-leak",
    "R2_ACCESS_KEY_ID": "r2-id-leak",
    "S3_SECRET_ACCESS_KEY": "s3-leak",
    "AWS_SECRET_ACCESS_KEY": "aws-leak",
    "AWS_SESSION_TOKEN": "aws-session-leak",
    "CODEC_SERVER_TOKEN": "codec-leak",
    "WORKFLOW_SECRET_OTHER": "other-secret-leak",
    "WORKFLOW_SECRET_API_TOKEN": "api-token-leak",
}


async def test_shell_and_script_see_only_basic_variables_and_what_the_task_declares(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in RUNNER_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    text = workflow(
        """
  - shell:
      run:
        shell:
          command: env
          environment:
            DECLARED: yes-declared
            TOKEN: ${ $secrets.api_token }
      export:
        as: '${ $context + {shell: .} }'
  - script:
      run:
        script:
          language: python
          code: |
            import json, os
            print(json.dumps(sorted(os.environ)))
          environment:
            DECLARED: in-script
      output:
        as: '${ $context + {script: fromjson} }'
""",
        extra="use:\n  secrets:\n    - api_token\n",
    )
    out = await harness.run(text)
    shell = dict(line.split("=", 1) for line in out["shell"].splitlines() if "=" in line)
    assert shell["DECLARED"] == "yes-declared"
    assert shell["TOKEN"] == "⟦secret:api_token⟧"  # the real value reached it, redacted on return
    assert shell["LC_ALL"] == "C.UTF-8" and "PATH" in shell
    for name, value in RUNNER_CREDENTIALS.items():
        assert name not in shell and value not in out["shell"]
    assert "DECLARED" in out["script"] and "PATH" in out["script"]
    assert not set(RUNNER_CREDENTIALS) & set(out["script"])
    assert {v for v in out["script"] if v.startswith(("R2_", "S3_", "AWS_", "WORKFLOW_"))} == set()


# -- the token rules themselves --------------------------------------------------------


def test_only_a_declared_name_with_the_runs_nonce_is_revealed() -> None:
    values = {"api_token": SECRET, "other": "other-value"}
    scope = SecretScope(nonce="n0nce", names=["api_token"])
    sent = {
        "mine": token("api_token", "n0nce"),
        "wrong nonce": token("api_token", "guess"),
        "undeclared": token("other", "n0nce"),
        "legacy": "⟦secret:api_token⟧",
        token("api_token", "n0nce"): "as a key",
    }
    assert reveal(sent, values, scope) == {
        "mine": SECRET,
        "wrong nonce": token("api_token", "guess"),
        "undeclared": token("other", "n0nce"),
        "legacy": "⟦secret:api_token⟧",
        SECRET: "as a key",
    }
    assert reveal(sent, values, None) == sent  # no scope: nothing resolves
    assert reveal(sent, values, SecretScope(nonce="", names=["api_token"])) == sent


def test_a_declared_secret_missing_on_the_worker_is_named() -> None:
    scope = SecretScope(nonce="n", names=["absent"])
    with pytest.raises(MissingSecretError, match="WORKFLOW_SECRET_ABSENT"):
        reveal(token("absent", "n"), {}, scope)


def test_redaction_reaches_keys_bytes_and_echoed_tokens() -> None:
    values = {"api_token": SECRET, "short": "abc"}
    redacted = redact_value({SECRET: [f"x{SECRET}y", {"k": SECRET}], "abc": "abc"}, values)
    assert redacted == {
        "⟦secret:api_token⟧": ["x⟦secret:api_token⟧y", {"k": "⟦secret:api_token⟧"}],
        "abc": "abc",  # too short to be a secret: left alone rather than corrupting data
    }
    body = bytearray(b"\x00" + SECRET.encode() + b"\xff")
    assert redact_bytes(body, values) == b"\x00" + "⟦secret:api_token⟧".encode() + b"\xff"
    clean = bytearray(b"no secret here")
    assert redact_bytes(clean, values) is clean  # nothing to do: no copy of a large body
    assert disarm({"h": "Bearer " + token("api_token", "n")}) == {"h": "Bearer ⟦secret:api_token⟧"}
