"""A small A2A (Agent2Agent 0.3, JSON-RPC over HTTP) agent on 127.0.0.1 for ``call: a2a`` tests.

Stdlib only, real HTTP. It is an "echo agent":

* ``GET /.well-known/agent-card.json``: its AgentCard; ``url`` is ``/a2a``, the
  JSON-RPC endpoint. When ``accept`` is set the card declares a bearer scheme.
* ``POST /a2a``: ``message/send`` answers a text ``hi`` with a Message and
  anything else with a completed Task whose artifact is ``echo: <text>``
  (kept for ``tasks/get``); ``message/stream`` answers with Server-Sent Events
  (the task submitted, working, its artifact, completed); ``tasks/get``,
  ``tasks/cancel`` (a completed task cannot be cancelled: -32002). A message
  without ``messageId``, ``role`` or ``parts`` is -32602, as the protocol says.

What it received (``requests``) is the test's ground truth. ``fail_next``
answers that many JSON-RPC requests with HTTP 503 (after recording them), to
make the runner retry; ``accept`` checks the Authorization header (401 when
it says no).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.httpserver import QuietHandler, in_background

CARD_PATH = "/.well-known/agent-card.json"


@dataclass
class AgentState:
    name: str = "Echo Agent"
    transport: str = "JSONRPC"
    accept: Callable[[str | None], bool] | None = None
    fail_next: int = 0
    card_requests: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(QuietHandler):
    server: A2aServer

    def do_GET(self) -> None:
        if self.path != CARD_PATH:
            self._send(404, b'{"error": "not found"}')
            return
        with self.server.state.lock:
            self.server.state.card_requests += 1
        self._send(200, json.dumps(self.server.card()).encode())

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization")
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(200, _error(None, -32700, "Invalid JSON payload"))
            return
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "method": body.get("method"),
                    "id": body.get("id"),
                    "params": body.get("params"),
                    "authorization": authorization,
                    "accept": self.headers.get("Accept"),
                }
            )
            failing = state.fail_next > 0
            state.fail_next -= 1 if failing else 0
        if self.path != "/a2a":
            self._send(404, b'{"error": "not found"}')
            return
        if failing:
            self._send(503, b"agent busy, try again", "text/plain")
            return
        if state.accept is not None and not state.accept(authorization):
            self._send(401, b'{"error": "unauthorized"}')
            return
        rid, method, params = body.get("id"), body.get("method"), body.get("params") or {}
        if body.get("jsonrpc") != "2.0" or not isinstance(method, str):
            self._send(200, _error(rid, -32600, "Request payload validation error"))
            return
        if method == "message/send":
            answer = self.server.answer(params)
            if isinstance(answer, str):
                self._send(200, _error(rid, -32602, answer))
            else:
                self._send(200, _ok(rid, answer))
        elif method == "message/stream":
            self._stream(rid, params)
        elif method == "tasks/get":
            task = state.tasks.get(str(params.get("id")))
            if task is None:
                self._send(200, _error(rid, -32001, "Task not found", {"id": params.get("id")}))
            else:
                self._send(200, _ok(rid, task))
        elif method == "tasks/cancel":
            found = str(params.get("id")) in state.tasks
            code, text = (
                (-32002, "Task cannot be canceled") if found else (-32001, "Task not found")
            )
            self._send(200, _error(rid, code, text))
        else:
            self._send(200, _error(rid, -32601, "Method not found"))

    def _stream(self, rid: Any, params: dict[str, Any]) -> None:
        task = self.server.answer(params)
        if isinstance(task, str) or task.get("kind") != "task":
            self._send(200, _error(rid, -32602, "stream a task, not a greeting"))
            return
        ids = {"taskId": task["id"], "contextId": task["contextId"]}
        events = [
            {**task, "status": {"state": "submitted"}, "artifacts": []},
            {"kind": "status-update", **ids, "status": {"state": "working"}, "final": False},
            {"kind": "artifact-update", **ids, "artifact": task["artifacts"][0]},
            {"kind": "status-update", **ids, "status": {"state": "completed"}, "final": True},
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for event in events:
            self.wfile.write(b"data: " + _ok(rid, event) + b"\n\n")
            self.wfile.flush()
        self.close_connection = True


def _ok(rid: Any, result: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()


def _error(rid: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}).encode()


class A2aServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = AgentState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def card_url(self) -> str:
        return self.url + CARD_PATH

    def card(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "name": self.state.name,
            "description": "Echoes what it is told.",
            "url": self.url + "/a2a",
            "version": "1.0.0",
            "protocolVersion": "0.3.0",
            "preferredTransport": self.state.transport,
            "capabilities": {"streaming": True},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "echo", "name": "Echo", "description": "echo", "tags": ["echo"]}],
        }
        if self.state.accept is not None:
            card["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            card["security"] = [{"bearer": []}]
        return card

    def answer(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """The reply to a message: a Message for ``hi``, a completed Task otherwise;
        a string is the reason the params are invalid."""
        message = params.get("message")
        if not isinstance(message, dict):
            return "params.message is required"
        for key in ("messageId", "role", "parts"):
            if key not in message:
                return f"message.{key} is required"
        text = " ".join(str(p.get("text", "")) for p in message["parts"] if isinstance(p, dict))
        if text == "hi":
            return {
                "kind": "message",
                "role": "agent",
                "messageId": "reply-" + str(message["messageId"]),
                "parts": [{"kind": "text", "text": "hello"}],
            }
        with self.state.lock:
            number = len(self.state.tasks) + 1
            task: dict[str, Any] = {
                "kind": "task",
                "id": f"task-{number}",
                "contextId": f"ctx-{number}",
                "status": {"state": "completed"},
                "artifacts": [
                    {"artifactId": "answer", "parts": [{"kind": "text", "text": f"echo: {text}"}]}
                ],
                "history": [message],
            }
            self.state.tasks[task["id"]] = task
        return task


@contextmanager
def serving_agent() -> Iterator[A2aServer]:
    with in_background(A2aServer()) as server:
        yield server
