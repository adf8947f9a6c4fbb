"""``call: a2a``: the task — its model, reader, and the typed request it sends.

A2A (Agent2Agent, a2a-protocol.org) is JSON-RPC 2.0 over HTTP to an agent.
The agent is named either by its AgentCard (``agentCard.endpoint``: the card's
URL, usually ``https://host/.well-known/agent-card.json``; the worker fetches
it and sends to the card's ``url``) or directly by its JSON-RPC endpoint
(``server``); the spec ignores ``server`` when ``agentCard`` is set, and so
does this runner. The method names are the spec's (A2A 0.3's JSON-RPC
methods: ``message/send``, ``tasks/get``...).

Authentication is any endpoint policy (``authentication.py``: inline,
``use: name``, basic, bearer, digest, oauth2, oidc), written on the endpoint
that names the agent — ``agentCard.endpoint.authentication`` (used to fetch
the card and to call the agent it describes: one party) or
``server.authentication``. The policy is resolved here with its secrets still
tokens; the activity (``call_a2a_activity.py``) turns it into credentials.
``$authorization`` is set for the task's ``output.as`` and ``export.as``, as
for ``call: http``.

``parameters`` are the method's ``params``. For ``message/send`` and
``message/stream`` the activity fills in what the spec says a runtime must
default: ``message.role`` (``user``) and ``message.messageId``, which it
derives from the workflow id, run id and activity id, so a retried attempt
sends the same id and the agent can recognise the repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import is_expression
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

ACTIVITY = "call_a2a"
WITH_PROPERTIES = frozenset({"method", "agentCard", "server", "parameters"})
METHODS = (
    "message/send",
    "message/stream",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/resubscribe",
    "tasks/pushNotificationConfig/set",
    "tasks/pushNotificationConfig/get",
    "tasks/pushNotificationConfig/list",
    "tasks/pushNotificationConfig/delete",
    "agent/getAuthenticatedExtendedCard",
)
# Methods whose answer is a stream of results (the output is their array, in order).
STREAMING = frozenset({"message/stream", "tasks/resubscribe"})
MESSAGE_METHODS = frozenset({"message/send", "message/stream"})
# What a method needs in ``parameters`` (checked when they are written out).
REQUIRED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "message/send": ("message",),
    "message/stream": ("message",),
    "tasks/get": ("id",),
    "tasks/cancel": ("id",),
    "tasks/resubscribe": ("id",),
    "tasks/pushNotificationConfig/set": ("taskId", "pushNotificationConfig"),
    "tasks/pushNotificationConfig/get": ("id",),
    "tasks/pushNotificationConfig/list": ("id",),
    "tasks/pushNotificationConfig/delete": ("id", "pushNotificationConfigId"),
}


@dataclass
class A2aRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    method: str
    parameters: JsonObject = field(default_factory=dict)
    card: str = ""  # the AgentCard's URL; when set, ``server`` is not used
    server: str = ""  # the agent's JSON-RPC endpoint
    instance: str = ""
    secret_scope: SecretScope | None = None
    # the endpoint's authentication resolved (authentication.py's wire form)
    authentication: JsonObject | None = None


@dataclass(frozen=True, kw_only=True)
class CallA2aTask(Task):
    spec: Mapping[str, Any]  # call.with as written, minus the endpoint's authentication
    authentication: AuthenticationPolicy | None = None
    authentication_at: str = ""  # where the policy is written (for evaluation errors)

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        spec = await run.eval_value(dict(self.spec), value, args, self.pointer + "/with")
        policy = None
        if self.authentication is not None:
            where = self.pointer + self.authentication_at
            policy = await self.authentication.resolve(run, value, args, where)
            args["authorization"] = describe(policy)  # $authorization for output.as, export.as
        card = spec.get("agentCard")
        parameters = spec.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise WorkflowError.of(
                "validation",
                f"a2a parameters evaluated to {type(parameters).__name__}, not an object "
                f"(the {spec['method']} params)",
                instance=self.pointer,
            )
        request = A2aRequest(
            method=str(spec["method"]),
            parameters=parameters,
            card=_uri(card.get("endpoint")) if isinstance(card, dict) else "",
            server=_uri(spec.get("server")) if card is None else "",
            instance=self.pointer,
            authentication=policy,
        )
        return await run.io.activity(
            ActivityCall(ACTIVITY, request, self.timeout, self.pointer)
        ), None


def _uri(endpoint: Any) -> str:
    uri = endpoint.get("uri") if isinstance(endpoint, dict) else endpoint
    return str(uri or "")


def read(reader: DefinitionReader, node: TaskNode) -> CallA2aTask | None:
    at = node.at("with")
    spec = read_with(reader, node, "a2a", WITH_PROPERTIES)
    if spec is None:
        return None
    method = spec.get("method")
    if "method" not in spec:
        reader.problem(at, f"call: a2a needs 'method': one of {', '.join(METHODS)}")
    elif method not in METHODS:
        reader.problem(
            f"{at}/method", f"unknown a2a method {method!r}; expected one of {', '.join(METHODS)}"
        )
    parameters = spec.get("parameters")
    if (
        parameters is not None
        and not isinstance(parameters, dict)
        and not is_expression(parameters)
    ):
        reader.problem(f"{at}/parameters", "parameters must be a mapping or an expression")
    if isinstance(parameters, dict) and isinstance(method, str):
        missing = [k for k in REQUIRED_PARAMETERS.get(method, ()) if k not in parameters]
        if missing:
            reader.problem(
                f"{at}/parameters",
                f"{method} needs {', '.join('parameters.' + k for k in missing)}",
            )
    elif parameters is None and REQUIRED_PARAMETERS.get(method if isinstance(method, str) else ""):
        needs = ", ".join("parameters." + k for k in REQUIRED_PARAMETERS[str(method)])
        reader.problem(at, f"{method} needs {needs}")
    message = parameters.get("message") if isinstance(parameters, dict) else None
    if method in MESSAGE_METHODS and message is not None:
        if not isinstance(message, dict) and not is_expression(message):
            reader.problem(f"{at}/parameters/message", "message must be a mapping {parts, ...}")
        elif isinstance(message, dict) and "parts" not in message:
            reader.problem(
                f"{at}/parameters/message", "message needs 'parts' (e.g. [{kind: text, text: hi}])"
            )
    policy, policy_at = None, ""
    if "agentCard" in spec:
        card = spec["agentCard"]
        if not isinstance(card, dict) or "endpoint" not in card:
            reader.problem(f"{at}/agentCard", "agentCard needs 'endpoint': the AgentCard's URL")
            return None
        for key in card:
            if key not in ("endpoint", "name"):
                reader.problem(f"{at}/agentCard/{key}", f"unknown agentCard property {key!r}")
        endpoint, policy, policy_at = _endpoint(
            reader, f"{at}/agentCard/endpoint", card["endpoint"], node.scope
        )
        spec = {**spec, "agentCard": {**card, "endpoint": endpoint}}
        spec.pop("server", None)  # ignored when agentCard is set (the spec says so)
    elif "server" in spec:
        endpoint, policy, policy_at = _endpoint(reader, f"{at}/server", spec["server"], node.scope)
        spec = {**spec, "server": endpoint}
    else:
        reader.problem(at, "call: a2a needs 'agentCard' (the agent's card) or 'server' (its URL)")
        return None
    reader.expressions_in(at, spec, node.scope)
    relative = policy_at.removeprefix(node.pointer)
    return CallA2aTask(**node.common, spec=spec, authentication=policy, authentication_at=relative)


def _endpoint(
    reader: DefinitionReader, pointer: str, endpoint: Any, scope: tuple[str, ...]
) -> tuple[Any, AuthenticationPolicy | None, str]:
    """The endpoint without its authentication, the policy read from it, and where it is."""
    policy = None
    uri = endpoint
    if isinstance(endpoint, dict):
        if "uri" not in endpoint:
            reader.problem(pointer, "endpoint needs 'uri'")
        for key in endpoint:
            if key not in ("uri", "authentication"):
                reader.problem(f"{pointer}/{key}", f"unknown endpoint property {key!r}")
        uri = endpoint.get("uri")
        if "authentication" in endpoint:
            at = f"{pointer}/authentication"
            policy = read_policy(reader, at, endpoint["authentication"], scope)
            endpoint = {k: v for k, v in endpoint.items() if k != "authentication"}
            return _checked(reader, pointer, uri, endpoint), policy, at
    return _checked(reader, pointer, uri, endpoint), policy, ""


def _checked(reader: DefinitionReader, pointer: str, uri: Any, endpoint: Any) -> Any:
    if not isinstance(uri, str) or not uri:
        reader.problem(pointer, "endpoint must be an http:// or https:// URL")
    elif not is_expression(uri) and not uri.startswith(("http://", "https://")):
        reader.problem(pointer, f"endpoint {uri!r} must be an http:// or https:// URL")
    return endpoint


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``call_a2a``: one HTTP client and a short-lived AgentCard cache."""
    from workflow_runner.engine.tasks.call_a2a_activity import A2aActivities

    a2a = A2aActivities(
        dict(settings.secrets),
        max_response_bytes=min(settings.http_max_response_bytes, settings.max_payload_bytes),
    )
    return ActivitySet([a2a.call_a2a], a2a.close)
