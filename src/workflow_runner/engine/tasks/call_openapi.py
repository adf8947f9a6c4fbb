"""``call: openapi``: an operation of an OpenAPI document, sent as an HTTP request.

Two activities, so that everything about HTTP is shared with ``call: http``:

1. ``openapi_request`` (``call_openapi_activity.py``) reads the document (a
   file or an http(s) URL; JSON or YAML; OpenAPI 3.x or Swagger 2.0; cached
   per worker), finds ``operationId``, binds ``parameters`` to the path,
   query, headers, cookies and body, picks the server, and returns the
   request as plain data;
2. the workflow sends that request through the ``call_http`` activity
   (``HttpRequest``), so streaming, the response size cap, secrets,
   ``output`` and ``redirect`` behave exactly as for ``call: http``.

The request is small, so having it in history costs little, and the
document itself never enters history. Secrets stay tokens until ``call_http``
reveals them. ``with.authentication`` is read and resolved as ``call: http``'s
``endpoint.authentication`` (engine/tasks/authentication.py) and sent with
the request, so every scheme ``call: http`` supports works here too.

Where the document comes from: ``document.endpoint`` is an http(s) URL or a
file; a relative path (``petstore.yaml`` or ``file://petstore.yaml``) is made
absolute against the definition's directory when the definition is read, so
it does not depend on the worker's working directory.
``document.endpoint.authentication`` (any policy, as above) is the one used to
*read* the document: it is resolved here and sent to ``openapi_request``,
which fetches the document with it (``auth_for``, shared with ``call: http``).
It is independent of ``with.authentication``, which signs the operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks import call_http
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
from workflow_runner.engine.tasks.call_http import HttpRequest

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "openapi_request"
WITH_PROPERTIES = frozenset(
    {"document", "operationId", "parameters", "authentication", "output", "redirect"}
)
DOCUMENT_PROPERTIES = frozenset({"name", "endpoint"})


@dataclass
class OpenApiRequest:
    """The ``openapi_request`` activity's argument: the document, the operation, its values."""

    document: str  # absolute file path or http(s) URL
    operation_id: str
    parameters: JsonObject = field(default_factory=dict)
    instance: str = ""
    secret_scope: SecretScope | None = None
    # document.endpoint.authentication resolved (authentication.py's wire form)
    authentication: JsonObject | None = None


@dataclass
class BoundRequest:
    """What ``openapi_request`` returns: an HTTP request, every value bound (tokens kept)."""

    method: str
    uri: str
    headers: JsonObject = field(default_factory=dict)
    query: JsonObject = field(default_factory=dict)
    body: Any = None


# -- the task ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallOpenApiTask(Task):
    document: str  # resolved at read time: absolute path or URL (may hold ${ })
    spec: Mapping[str, Any]  # operationId, parameters, output... as written
    authentication: AuthenticationPolicy | None = None  # with.authentication
    # document.endpoint.authentication: to read the document
    document_authentication: AuthenticationPolicy | None = None

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/with"
        spec = await run.eval_value(dict(self.spec), value, args, where)
        document = await run.eval_value(self.document, value, args, where + "/document")
        parameters = spec.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise WorkflowError.of(
                "configuration",
                f"parameters evaluated to {type(parameters).__name__}, not a mapping of "
                "parameter names to values",
                instance=self.pointer,
            )
        reading = None
        if self.document_authentication is not None:
            reading = await self.document_authentication.resolve(
                run, value, args, where + "/document/endpoint/authentication"
            )
        bound = await run.io.activity(
            ActivityCall(
                ACTIVITY,
                OpenApiRequest(
                    document=str(document),
                    operation_id=str(spec["operationId"]),
                    parameters=dict(parameters),
                    instance=self.pointer,
                    authentication=reading,
                ),
                self.timeout,
                self.pointer,
            )
        )
        policy = None
        if self.authentication is not None:
            policy = await self.authentication.resolve(run, value, args, where + "/authentication")
            args["authorization"] = describe(policy)  # $authorization for output.as, export.as
        request = HttpRequest(
            method=bound["method"],
            uri=bound["uri"],
            headers=bound.get("headers") or {},
            query=bound.get("query") or {},
            body=bound.get("body"),
            output=spec.get("output", "content"),
            redirect=bool(spec.get("redirect", False)),
            instance=self.pointer,
            authentication=policy,
        )
        return await run.io.activity(
            ActivityCall(call_http.ACTIVITY, request, self.timeout, self.pointer)
        ), None


def read(reader: DefinitionReader, node: TaskNode) -> CallOpenApiTask | None:
    at = node.at("with")
    spec = read_with(reader, node, "openapi", WITH_PROPERTIES, ("document", "operationId"))
    if spec is None:
        return None
    document, reading = _document_location(reader, f"{at}/document", spec["document"], node.scope)
    operation = spec["operationId"]
    if not isinstance(operation, str) or not operation:
        reader.problem(f"{at}/operationId", "operationId must be the id of an operation")
    parameters = spec.get("parameters")
    if not (parameters is None or isinstance(parameters, dict) or is_expression(parameters)):
        reader.problem(
            f"{at}/parameters", "parameters must be a mapping of parameter names to values"
        )
    output = spec.get("output", "content")
    if output not in call_http.OUTPUTS and not is_expression(output):
        reader.problem(f"{at}/output", "output must be content, response or raw")
    redirect = spec.get("redirect", False)
    if not isinstance(redirect, bool) and not is_expression(redirect):
        reader.problem(f"{at}/redirect", "redirect must be true or false")
    policy = None
    if "authentication" in spec:  # the policy is evaluated on its own, as call: http's
        raw = spec["authentication"]
        if isinstance(raw, str) and not is_expression(raw):
            raw = {"use": raw}  # the schema's other spelling of a named policy
        policy = read_policy(reader, f"{at}/authentication", raw, node.scope)
    body = {k: v for k, v in spec.items() if k not in ("document", "authentication")}
    reader.expressions_in(at, body, node.scope)
    if document is None:
        return None
    return CallOpenApiTask(
        **node.common,
        document=document,
        spec=body,
        authentication=policy,
        document_authentication=reading,
    )


def _document_location(
    reader: DefinitionReader, pointer: str, document: Any, scope: tuple[str, ...]
) -> tuple[str | None, AuthenticationPolicy | None]:
    """The document's URL, or its file path made absolute against the definition's
    directory; and the policy to read it with (``endpoint.authentication``)."""
    if isinstance(document, dict):
        for key in document:
            if key not in DOCUMENT_PROPERTIES:
                reader.problem(f"{pointer}/{key}", f"unknown document property {key!r}")
        endpoint = document.get("endpoint")
    else:
        endpoint = None
    policy = None
    if isinstance(endpoint, dict):
        if "authentication" in endpoint:
            at = f"{pointer}/endpoint/authentication"
            raw = endpoint["authentication"]
            if isinstance(raw, str) and not is_expression(raw):
                raw = {"use": raw}  # the schema's other spelling of a named policy
            policy = read_policy(reader, at, raw, scope)
        endpoint = endpoint.get("uri")
    if not isinstance(endpoint, str) or not endpoint:
        reader.problem(pointer, "document needs 'endpoint': the OpenAPI document's path or URL")
        return None, None
    if is_expression(endpoint):
        reader.expressions_in(f"{pointer}/endpoint", endpoint, scope)
        return endpoint, policy
    if endpoint.startswith(("http://", "https://")):
        return endpoint, policy
    if "://" in endpoint and not endpoint.startswith("file://"):
        reader.problem(
            f"{pointer}/endpoint",
            f"document {endpoint!r}: use a file path, file://, http:// or https://",
        )
        return None, None
    if policy is not None:
        reader.problem(
            f"{pointer}/endpoint/authentication",
            "authentication applies to a document read over http(s), not to a file",
        )
    path = Path(endpoint.removeprefix("file://"))
    if not path.is_absolute() and not reader.file.startswith("<"):
        path = Path(reader.file).resolve().parent / path
    return str(path), policy


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``openapi_request``: one client and one document cache, closed at exit."""
    from workflow_runner.engine.tasks.call_openapi_activity import OpenApiActivities

    openapi = OpenApiActivities(
        settings.http_timeout_seconds,
        max_document_bytes=min(settings.http_max_response_bytes, settings.max_payload_bytes),
        secrets=dict(settings.secrets),
    )
    return ActivitySet([openapi.openapi_request], openapi.close)
