"""The ``openapi_request`` activity: an OpenAPI operation turned into an HTTP request.

The I/O half of ``call: openapi`` (task side: ``call_openapi.py``). It reads
the document, binds the call's ``parameters`` and returns the request; the
workflow sends it with ``call_http``. Kept in its own module so that reading
a definition never imports httpx or temporalio.

What it understands:

- OpenAPI 3.x and Swagger 2.0, JSON or YAML, from a file or an http(s) URL.
  Documents are cached per worker by URI (a file also by its modification
  time and size, so an edited file is read again), at most
  ``CACHED_DOCUMENTS`` of them.
- ``$ref`` inside the document (``#/...``), for path items, parameters and
  request bodies. A reference to another document is refused by name.
- Parameters: path (``simple`` style), query (``form``, exploded or not,
  ``spaceDelimited``, ``pipeDelimited``, ``deepObject``; Swagger's
  ``collectionFormat``), header, cookie; operation parameters override the
  path item's of the same name and location.
- The body: Swagger's ``in: body`` parameter (by its name) and ``formData``
  parameters; OpenAPI 3's ``requestBody`` takes ``parameters.body`` when the
  operation declares no parameter of that name, or else the parameters that
  are not the operation's (the body's properties, e.g. ``name`` and
  ``status`` of a new pet). The media type is the first of JSON, form,
  multipart and text the operation accepts; form bodies are encoded here.
- The server: OpenAPI 3's first ``servers`` entry (the operation's, the path
  item's, then the document's; variables take their defaults), resolved
  against the document's URL when relative; Swagger's ``schemes`` (the
  document's own scheme when listed), ``host`` (default: the document's) and
  ``basePath``.

A parameter the operation does not have, a required one that is missing, an
unknown ``operationId`` or an unreadable document fail for good (a
configuration error naming the operation and the document): a retry would
read the same document. A document that cannot be fetched (connection, 5xx)
is retried.

``document.endpoint.authentication`` arrives resolved (secrets still tokens)
and is turned into credentials by the shared ``auth_for`` (the same schemes,
token requests and token cache as ``call: http``); the document is fetched
with them. A document read with credentials is cached under a digest of
those credentials, so a call that has none (or others) never gets it from
the cache; refusals and token errors never quote a credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import DefinitionError, WorkflowError
from workflow_runner.dsl.loader import load_yaml
from workflow_runner.engine.activities.errors import activity_failure, dsl_failures
from workflow_runner.engine.secrets import redact
from workflow_runner.engine.tasks.authentication_activity import auth_for
from workflow_runner.engine.tasks.call_openapi import ACTIVITY, BoundRequest, OpenApiRequest

CACHED_DOCUMENTS = 32
DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("path", "query", "header", "cookie")
# Preferred request media types, in order; anything else is taken as it comes.
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MULTIPART_BOUNDARY = "workflow-runner-openapi-form-boundary"
MAX_REF_DEPTH = 64
# Secret tokens (engine/secrets.py) are revealed by call_http in the URI as
# written: percent-encoding one would keep it from being found.
SECRET_TOKEN_START = "\u27e6secret:"


class OpenApiProblem(Exception):
    """The document or the call is wrong: a configuration error, not worth a retry."""


class DocumentUnavailable(Exception):
    """The document could not be fetched now; a retry may succeed."""


class OpenApiActivities:
    """One httpx client and one document cache for the worker's life."""

    def __init__(
        self,
        timeout_seconds: float = 300.0,
        *,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.max_document_bytes = max_document_bytes
        self.secrets: Mapping[str, str] = secrets or {}
        self.client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=True)
        self.cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    async def close(self) -> None:
        await self.client.aclose()

    @activity.defn(name=ACTIVITY)
    async def openapi_request(self, request: OpenApiRequest) -> BoundRequest:
        where = f"operation {request.operation_id!r} of {request.document}"
        secrets = self.secrets

        def otherwise(e: Exception) -> ApplicationError:
            if isinstance(e, OpenApiProblem):
                title, kind, retryable = "OpenAPI call", "configuration", False
            elif isinstance(e, DocumentUnavailable):
                title, kind, retryable = "OpenAPI document unavailable", "communication", True
            else:
                raise e
            message = redact(f"{where}: {e}", secrets)
            error = WorkflowError.of(kind, message, title=title, instance=request.instance)
            return activity_failure(error, retryable=retryable)

        with dsl_failures(request.instance, otherwise):
            auth: httpx.Auth | None = None
            identity = ""
            if request.authentication is not None:
                authorization = await auth_for(
                    request.authentication,
                    self.client,
                    self.secrets,
                    request.secret_scope,
                    instance=request.instance,
                )
                secrets = {**self.secrets, **authorization.sensitive}
                auth, identity = authorization.auth, _identity(authorization.sensitive)
            document = await self.document(request.document, auth, identity)
            return bind(document, request.document, request.operation_id, request.parameters)

    async def document(
        self, uri: str, auth: httpx.Auth | None = None, identity: str = ""
    ) -> dict[str, Any]:
        """The parsed document, from the cache when this worker has read it already
        (with the same credentials: ``identity`` is their digest)."""
        if uri.startswith(("http://", "https://")):
            key: tuple[Any, ...] = (uri, identity)
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
            text = await self._fetch(uri, auth)
        else:
            path = Path(uri.removeprefix("file://"))
            try:
                stat = await asyncio.to_thread(path.stat)
            except OSError as e:
                raise OpenApiProblem(f"cannot read the document: {e.strerror}") from None
            key = (str(path), stat.st_mtime_ns, stat.st_size)
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
            if stat.st_size > self.max_document_bytes:
                raise OpenApiProblem(
                    f"the document is {stat.st_size} bytes, more than "
                    f"HTTP_MAX_RESPONSE_BYTES={self.max_document_bytes}"
                )
            text = await asyncio.to_thread(_read_text, path)
        document = parse_document(text, uri)
        self.cache[key] = document
        while len(self.cache) > CACHED_DOCUMENTS:
            self.cache.popitem(last=False)
        return document

    async def _fetch(self, uri: str, auth: httpx.Auth | None = None) -> str:
        kwargs: dict[str, Any] = {} if auth is None else {"auth": auth}
        try:
            async with self.client.stream("GET", uri, **kwargs) as response:
                if response.status_code >= 400:
                    message = f"GET {uri} returned {response.status_code}"
                    if response.status_code >= 500:
                        raise DocumentUnavailable(message)
                    raise OpenApiProblem(message)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_document_bytes:
                        raise OpenApiProblem(
                            f"the document is larger than "
                            f"HTTP_MAX_RESPONSE_BYTES={self.max_document_bytes} bytes"
                        )
                return body.decode(response.encoding or "utf-8", errors="replace")
        except httpx.HTTPError as e:
            raise DocumentUnavailable(f"GET {uri} failed: {type(e).__name__}: {e}") from None


def _identity(sensitive: Mapping[str, str]) -> str:
    """A digest of the credentials a document was read with (never the credentials)."""
    text = json.dumps(sorted(sensitive.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OpenApiProblem(f"cannot read the document: {e}") from None


# -- the document ----------------------------------------------------------------


def parse_document(text: str, uri: str) -> dict[str, Any]:
    """JSON or YAML; an OpenAPI 3.x or Swagger 2.0 document, or a problem saying which not."""
    data: Any
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise OpenApiProblem(f"the document is not valid JSON: {e}") from None
    else:
        try:
            data, _ = load_yaml(text, uri)
        except DefinitionError as e:
            raise OpenApiProblem(f"the document is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise OpenApiProblem("the document is not a mapping (an OpenAPI document is an object)")
    if str(data.get("swagger", "")).startswith("2."):
        return data
    if str(data.get("openapi", "")).startswith("3."):
        return data
    raise OpenApiProblem(
        "not an OpenAPI 3.x or Swagger 2.0 document (no 'openapi: 3...' or 'swagger: \"2.0\"')"
    )


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its ``$ref`` chain followed inside ``document``."""
    depth = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise OpenApiProblem(
                f"$ref {ref!r} points into another document, which is not supported yet"
            )
        depth += 1
        if depth > MAX_REF_DEPTH:
            raise OpenApiProblem(f"$ref {ref!r} is part of a reference cycle")
        target: Any = document
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise OpenApiProblem(f"$ref {ref!r} names nothing in the document")
        node = target
    return node


def find_operation(
    document: Mapping[str, Any], operation_id: str
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(path, method, path item, operation) of ``operation_id``."""
    known: list[str] = []
    paths = document.get("paths")
    for path, raw_item in paths.items() if isinstance(paths, dict) else ():
        item = resolve(document, raw_item)
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            if operation.get("operationId") == operation_id:
                return str(path), method, item, operation
            if isinstance(operation.get("operationId"), str):
                known.append(operation["operationId"])
    listed = ", ".join(sorted(known)[:30]) + (", ..." if len(known) > 30 else "")
    raise OpenApiProblem(
        f"the document has no operation with this operationId (its operations: {listed or 'none'})"
    )


# -- binding -------------------------------------------------------------------


def bind(
    document: Mapping[str, Any],
    document_uri: str,
    operation_id: str,
    values: Mapping[str, Any],
) -> BoundRequest:
    """The HTTP request that calls ``operation_id`` with ``values``."""
    path, method, item, operation = find_operation(document, operation_id)
    swagger = "swagger" in document
    declared = _parameters(document, item, operation)
    remaining = dict(values)
    path_values: dict[str, str] = {}
    query: dict[str, Any] = {}
    query_pairs: list[tuple[str, str]] = []  # repeated names go into the URI
    headers: dict[str, Any] = {}
    cookies: list[str] = []
    form: dict[str, Any] = {}
    body: Any = None
    has_body = False
    for parameter in declared:
        name, location = str(parameter.get("name")), parameter.get("in")
        if name not in remaining:
            if parameter.get("required") or location == "path":
                raise OpenApiProblem(f"missing required {location} parameter {name!r}")
            continue
        value = remaining.pop(name)
        if location == "path":
            path_values[name] = _path_value(value)
        elif location == "query":
            _query_value(parameter, name, value, swagger, query, query_pairs)
        elif location == "header":
            headers[name] = _joined(value, ",")
        elif location == "cookie":
            cookies.append(f"{name}={_joined(value, ',')}")
        elif location == "body":
            body, has_body = value, True
        elif location == "formData":
            form[name] = value
    content_type: str | None = None
    if swagger:
        if form:
            consumes = operation.get("consumes") or document.get("consumes") or [FORM]
            content_type = MULTIPART if MULTIPART in consumes and FORM not in consumes else FORM
            body, has_body = form, True
        elif has_body:
            consumes = operation.get("consumes") or document.get("consumes") or [JSON]
            content_type = _preferred(consumes)
    else:
        request_body = resolve(document, operation.get("requestBody"))
        if isinstance(request_body, dict):
            body, has_body = _request_body(declared, remaining)
            if not has_body and request_body.get("required"):
                raise OpenApiProblem(
                    "missing the required request body: give it as parameters.body, or give "
                    "its properties as parameters"
                )
            content = request_body.get("content")
            content_type = _preferred(list(content) if isinstance(content, dict) else [JSON])
    if remaining:
        names = [str(p.get("name")) for p in declared]
        raise OpenApiProblem(
            f"unknown parameter{'s' if len(remaining) > 1 else ''} "
            + ", ".join(map(repr, sorted(remaining)))
            + f" (the operation's parameters: {', '.join(names) or 'none'})"
        )
    if has_body and content_type is not None:
        headers.setdefault("Content-Type", _content_type_header(content_type))
        body = _encoded_body(body, content_type)
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    uri = _server(document, document_uri, item, operation).rstrip("/") + _expand(path, path_values)
    if query_pairs:
        uri += "?" + urlencode(query_pairs)
    return BoundRequest(
        method=method.upper(),
        uri=uri,
        headers=headers,
        query=query,
        body=body if has_body else None,
    )


def _parameters(
    document: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The operation's parameters over the path item's (same name and location)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (item.get("parameters"), operation.get("parameters")):
        for raw in source if isinstance(source, list) else ():
            parameter = resolve(document, raw)
            if isinstance(parameter, dict) and "name" in parameter:
                merged[(str(parameter["name"]), str(parameter.get("in")))] = parameter
    return list(merged.values())


def _request_body(declared: list[dict[str, Any]], remaining: dict[str, Any]) -> tuple[Any, bool]:
    """OpenAPI 3's body: ``parameters.body``, or else the parameters left over (its properties)."""
    if "body" in remaining and not any(p.get("name") == "body" for p in declared):
        return remaining.pop("body"), True
    if remaining:
        body = dict(remaining)
        remaining.clear()
        return body, True
    return None, False


def _preferred(media_types: list[Any]) -> str:
    types = [str(t) for t in media_types]
    for wanted in (JSON, FORM, MULTIPART):
        if wanted in types:
            return wanted
    for media_type in types:
        if media_type.endswith("+json") or media_type == "*/*":
            return JSON if media_type == "*/*" else media_type
    return types[0] if types else JSON


def _content_type_header(media_type: str) -> str:
    if media_type == MULTIPART:
        return f"{MULTIPART}; boundary={MULTIPART_BOUNDARY}"
    return media_type


def _encoded_body(body: Any, media_type: str) -> Any:
    """JSON stays a value (call_http encodes it); forms are encoded here; text is text."""
    if media_type == FORM and isinstance(body, dict):
        return urlencode([(k, _text(v)) for k, v in body.items()], doseq=False)
    if media_type == MULTIPART and isinstance(body, dict):
        parts = [
            f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
            f"{_text(v)}\r\n"
            for k, v in body.items()
        ]
        return "".join(parts) + f"--{MULTIPART_BOUNDARY}--\r\n"
    if media_type == JSON or media_type.endswith("+json"):
        return body
    return body if isinstance(body, str) else json.dumps(body)


def _query_value(
    parameter: Mapping[str, Any],
    name: str,
    value: Any,
    swagger: bool,
    query: dict[str, Any],
    pairs: list[tuple[str, str]],
) -> None:
    if swagger:
        separators = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}
        fmt = parameter.get("collectionFormat", "csv")
        if isinstance(value, list) and fmt == "multi":
            pairs.extend((name, _text(v)) for v in value)
        else:
            query[name] = _joined(value, separators.get(fmt, ","))
        return
    style = parameter.get("style", "form")
    explode = parameter.get("explode", style == "form")
    if style == "deepObject" and isinstance(value, dict):
        for key, item in value.items():
            query[f"{name}[{key}]"] = _text(item)
    elif isinstance(value, dict) and explode:
        for key, item in value.items():
            query[str(key)] = _text(item)
    elif isinstance(value, list) and explode:
        pairs.extend((name, _text(v)) for v in value)
    else:
        separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        query[name] = _joined(value, separator)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _joined(value: Any, separator: str) -> str:
    if isinstance(value, list):
        return separator.join(_text(v) for v in value)
    if isinstance(value, dict):
        return separator.join(f"{k}{separator}{_text(v)}" for k, v in value.items())
    return _text(value)


def _path_value(value: Any) -> str:
    text = _joined(value, ",")
    return text if SECRET_TOKEN_START in text else quote(text, safe=",")


def _expand(path: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _server(
    document: Mapping[str, Any],
    document_uri: str,
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
) -> str:
    """The base URL the operation's path is appended to."""
    remote = document_uri.startswith(("http://", "https://"))
    if "swagger" in document:
        origin = urlsplit(document_uri) if remote else None
        schemes = [str(s) for s in (operation.get("schemes") or document.get("schemes") or [])]
        if origin is not None and (not schemes or origin.scheme in schemes):
            scheme = origin.scheme
        else:
            scheme = schemes[0] if schemes else "https"
        host = document.get("host") or (origin.netloc if origin is not None else None)
        if not host:
            raise OpenApiProblem(
                "the document has no 'host' and was not read from a URL: add host to it"
            )
        return f"{scheme}://{host}{document.get('basePath') or ''}"
    servers = operation.get("servers") or item.get("servers") or document.get("servers")
    server = servers[0] if isinstance(servers, list) and servers else {"url": "/"}
    url = str(server.get("url", "/")) if isinstance(server, dict) else "/"
    variables = server.get("variables") if isinstance(server, dict) else None
    for name, variable in (variables or {}).items():
        if isinstance(variable, dict) and "default" in variable:
            url = url.replace("{" + str(name) + "}", str(variable["default"]))
    if url.startswith(("http://", "https://")):
        return url
    if not remote:
        raise OpenApiProblem(
            f"the server URL {url!r} is relative and the document is a file: give servers[0] "
            "an absolute URL"
        )
    return urljoin(document_uri, url)
