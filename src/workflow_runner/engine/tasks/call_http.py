"""``call: http``: the task — its model, reader, and the typed request it sends.

The request goes to the ``call_http`` activity (``call_http_activity.py``:
httpx, streaming with a size cap, secrets revealed and redacted there).
Secrets stay tokens here: the workflow never sees a secret value.
``endpoint.authentication`` is read into an ``AuthenticationPolicy``
(``authentication.py``) and sent resolved beside the request; the activity
turns it into credentials, so an access token never enters the workflow.
``$authorization`` is set for the task's ``output.as`` and ``export.as``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.authentication import (
    AuthenticationPolicy,
    describe,
    read_policy,
)
from workflow_runner.engine.tasks.base import (
    ActivityCall,
    ActivitySet,
    Execution,
    Outcome,
    Task,
    read_with,
)

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "call_http"
WITH_PROPERTIES = frozenset(
    {"method", "endpoint", "headers", "body", "query", "output", "redirect"}
)
OUTPUTS = ("content", "response", "raw")
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
LIMIT_VARIABLE = "HTTP_MAX_RESPONSE_BYTES"


@dataclass
class HttpRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    method: str
    uri: str
    headers: JsonObject = field(default_factory=dict)
    query: JsonObject = field(default_factory=dict)
    body: Any = None
    output: str = "content"
    redirect: bool = False
    instance: str = ""
    secret_scope: SecretScope | None = None
    # endpoint.authentication resolved (authentication.py's wire form): secrets still tokens
    authentication: JsonObject | None = None


# -- the task ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallHttpTask(Task):
    spec: Mapping[str, Any]  # call.with as written, minus endpoint.authentication
    authentication: AuthenticationPolicy | None = None

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        spec = await run.eval_value(dict(self.spec), value, args, self.pointer + "/with")
        policy = None
        if self.authentication is not None:
            where = self.pointer + "/with/endpoint/authentication"
            policy = await self.authentication.resolve(run, value, args, where)
            # $authorization for output.as and export.as (args is this task's own).
            args["authorization"] = describe(policy)
        endpoint = spec["endpoint"]
        uri = endpoint["uri"] if isinstance(endpoint, dict) else endpoint
        request = HttpRequest(
            method=str(spec["method"]),
            uri=expand_uri_template(str(uri), value),
            headers=spec.get("headers") or {},
            query=spec.get("query") or {},
            body=spec.get("body"),
            output=spec.get("output", "content"),
            redirect=bool(spec.get("redirect", False)),
            instance=self.pointer,
            authentication=policy,
        )
        return await run.io.activity(
            ActivityCall(ACTIVITY, request, self.timeout, self.pointer)
        ), None


def read(reader: DefinitionReader, node: TaskNode) -> CallHttpTask | None:
    with_pointer = node.at("with")
    spec = read_with(reader, node, "http", WITH_PROPERTIES, ("method", "endpoint"))
    if spec is None:
        return None
    endpoint = spec.get("endpoint")
    policy = None
    if isinstance(endpoint, dict):
        if "uri" not in endpoint:
            reader.problem(f"{with_pointer}/endpoint", "endpoint needs 'uri'")
        if "authentication" in endpoint:
            at = f"{with_pointer}/endpoint/authentication"
            policy = read_policy(reader, at, endpoint["authentication"], node.scope)
            endpoint = {k: v for k, v in endpoint.items() if k != "authentication"}
            spec = {**spec, "endpoint": endpoint}  # the policy is evaluated on its own
    if spec.get("output", "content") not in OUTPUTS:
        reader.problem(f"{with_pointer}/output", "output must be content, response or raw")
    reader.expressions_in(with_pointer, spec, node.scope)
    return CallHttpTask(**node.common, spec=spec, authentication=policy)


def expand_uri_template(uri: str, value: Any) -> str:
    """``/pets/{petId}`` takes ``petId`` from the task input (RFC 6570 level 1)."""
    if "{" not in uri or not isinstance(value, dict):
        return uri
    out, i = [], 0
    while i < len(uri):
        start = uri.find("{", i)
        end = uri.find("}", start)
        if start < 0 or end < 0:
            out.append(uri[i:])
            break
        out.append(uri[i:start])
        name = uri[start + 1 : end]
        out.append(quote(str(value[name]), safe="") if name in value else uri[start : end + 1])
        i = end + 1
    return "".join(out)


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``call_http``: one client (connection reuse), closed at shutdown."""
    from workflow_runner.engine.tasks.call_http_activity import HttpActivities

    http = HttpActivities(
        dict(settings.secrets),
        settings.http_timeout_seconds,
        max_response_bytes=min(settings.http_max_response_bytes, settings.max_payload_bytes),
    )
    return ActivitySet([http.call_http], http.close)
