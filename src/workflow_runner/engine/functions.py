"""Fetching the cataloged functions a definition calls, when the definition is loaded.

``call: log:1.0.0@global`` names the function ``log`` version ``1.0.0`` of
the catalog ``use.catalogs.global``; a catalog lays its functions out as
``<endpoint>/functions/<name>/<version>/function.yaml`` (the spec's catalog
structure). ``call: https://.../function.yaml`` names a function by URL.
Both are read here, on the client side, like the children of ``run:
workflow`` (``engine/catalog.py``), and added to the definition's
``use.functions`` under the reference as written: the run request then
carries every function it calls, and a worker never fetches a definition (a
run does not depend on a catalog being reachable from the worker, nor on it
being unchanged between the start and a replay).

Where a catalog lives: an http(s) URL (a GitHub or GitLab repository page is
turned into its raw-content address, as dsl.md asks), a ``file://`` URL or
a path, relative to the definition's directory. The catalog named
``default`` needs no declaration: it is the definition's own directory
(``<dir>/functions/<name>/<version>/function.yaml``), unless ``use.catalogs``
defines ``default`` itself.

Each function is checked on its own as a task, with problems located in its
``function.yaml``: a catalog function is self-contained (it cannot cite the
workflow's ``use.retries`` or ``use.errors`` by name). A function that
cannot be fetched is a definition problem located at the ``call``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from workflow_runner.dsl.errors import DefinitionError, Problem
from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.loader import (
    MAX_DEFINITION_BYTES,
    Locations,
    load_yaml,
    pointer_join,
    read_definition_file,
)
from workflow_runner.dsl.model import JsonObject
from workflow_runner.dsl.reader import DefinitionReader
from workflow_runner.engine.tasks import TASK_TYPES
from workflow_runner.engine.tasks.call_function import (
    DEFAULT_CATALOG,
    cataloged,
    is_function_reference,
)

FETCH_TIMEOUT_SECONDS = 30.0
_GITHUB = re.compile(
    r"^https://github\.com/([^/]+)/([^/]+?)(?:\.git)?(?:/(?:tree|blob)/([^/]+))?(/.*)?$"
)
_GITLAB = re.compile(r"^https://gitlab\.com/(.+?)(?:/-/(?:tree|blob)/([^/]+))(/.*)?$")


def include_catalog_functions(data: Any, locations: Locations, source: str) -> Any:
    """``data`` with every cataloged function it calls added to ``use.functions``.

    Returns ``data`` itself when it calls none; raises ``DefinitionError``
    (located at the call, or in the function's file) when one cannot be had.
    """
    if not isinstance(data, dict):
        return data
    directory = Path(source).resolve().parent if not source.startswith("<") else Path.cwd()
    if not source.startswith("<"):
        data = anchor_documents(data, str(directory))
    use = _mapping(data.get("use"))
    own = _mapping(use.get("functions"))
    catalogs = _mapping(use.get("catalogs"))
    calls = list(_function_calls(data.get("do"), "/do"))
    calls += list(_function_calls(own, "/use/functions"))
    wanted = [(call, pointer) for call, pointer in calls if call not in own]
    if not wanted:
        return data
    fetched: dict[str, Any] = {}
    located: dict[str, tuple[str, Locations]] = {}
    problems: list[Problem] = []
    while wanted:
        call, pointer = wanted.pop(0)
        if call in fetched:
            continue
        try:
            where = function_location(call, catalogs, directory)
        except ValueError as e:
            problems.append(_problem(source, locations, pointer, str(e)))
            continue
        if where is None:
            continue  # an undeclared catalog: the reader names it
        try:
            text = _read(where)
            function, function_locations = load_yaml(text, where)
        except DefinitionError as e:
            problems.extend(
                _problem(source, locations, pointer, f"function {_label(call, where)}: {p.message}")
                if p.file == where and p.line == 1 and not p.pointer
                else p
                for p in e.problems
            )
            continue
        if not isinstance(function, dict):
            problems.append(Problem(where, 1, 1, "", "a function must be a task (a mapping)"))
            continue
        # A function's relative documents are next to its function.yaml.
        function = anchor_documents(function, where.rsplit("/", 1)[0])
        fetched[call] = function
        located[call] = (where, function_locations)
        wanted += [(c, pointer) for c, _ in _function_calls(function, "") if c not in own]
    for call, function in fetched.items():
        where, function_locations = located[call]
        reader = DefinitionReader(where, function_locations, TASK_TYPES)
        reader.functions = {**own, **fetched}
        reader.catalogs = dict(catalogs)
        reader.task("", call, function, (), ())
        problems += reader.problems
    if problems:
        raise DefinitionError(problems)
    functions = {**own, **fetched}
    return {**data, "use": {**use, "functions": functions}}


def anchor_documents(value: Any, base: str) -> Any:
    """``value`` with the relative ``document.endpoint`` of every ``call: openapi`` and the
    relative ``proto.endpoint`` of every ``call: grpc`` made absolute against ``base`` (a
    directory or a URL).

    The raw definition itself is rewritten, not only the model read from it: a worker
    reads the definition again from the run request, where a relative path would resolve
    against the worker's working directory instead of the definition's.
    """
    if isinstance(value, list):
        return [anchor_documents(item, base) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: anchor_documents(item, base) for key, item in value.items()}
    spec = _mapping(out.get("with"))
    document_key = {"openapi": "document", "grpc": "proto"}.get(str(out.get("call")))
    document = spec.get(document_key) if document_key else None
    if document_key and isinstance(document, dict):
        endpoint = _anchored(document.get("endpoint"), base)
        if endpoint is not document.get("endpoint"):
            out["with"] = {**spec, document_key: {**document, "endpoint": endpoint}}
    return out


def _anchored(endpoint: Any, base: str) -> Any:
    """An endpoint (a URI or ``{uri, ...}``) with a relative URI made absolute against
    ``base``; the very same object when there is nothing to anchor."""
    uri = endpoint.get("uri") if isinstance(endpoint, dict) else endpoint
    if not isinstance(uri, str) or not uri or is_expression(uri) or _absolute(uri):
        return endpoint
    if base.startswith(("http://", "https://")):
        anchored = urljoin(base + "/", uri.removeprefix("file://"))
    else:
        anchored = str(Path(base) / uri.removeprefix("file://"))
    return {**endpoint, "uri": anchored} if isinstance(endpoint, dict) else anchored


def _absolute(uri: str) -> bool:
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://")).is_absolute()
    return "://" in uri or Path(uri).is_absolute()


def function_location(call: str, catalogs: JsonObject, directory: Path) -> str | None:
    """Where ``call``'s ``function.yaml`` is: a URL or an absolute path; ``None`` when it
    names a catalog the definition does not declare."""
    if call.startswith(("http://", "https://")):
        return raw_content_url(call)
    if call.startswith("file://"):
        return str(_path(call, directory))
    reference = cataloged(call)
    if reference is None:
        return None
    name, version, catalog = reference
    relative = f"functions/{name}/{version}/function.yaml"
    if catalog in catalogs:
        endpoint = (
            catalogs[catalog].get("endpoint") if isinstance(catalogs[catalog], dict) else None
        )
        if isinstance(endpoint, dict):
            if "authentication" in endpoint:
                raise ValueError(
                    f"catalog {catalog!r}: authentication to read a catalog is not supported "
                    "yet; serve it without, or use a copy on disk"
                )
            endpoint = endpoint.get("uri")
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"catalog {catalog!r} needs an endpoint (a URL or a directory)")
        if endpoint.startswith(("http://", "https://")):
            return urljoin(raw_content_url(endpoint).rstrip("/") + "/", relative)
        if "://" in endpoint and not endpoint.startswith("file://"):
            raise ValueError(f"catalog {catalog!r}: use a directory, file://, http:// or https://")
        return str(_path(endpoint, directory) / relative)
    if catalog == DEFAULT_CATALOG:
        return str(directory / relative)
    return None


def raw_content_url(url: str) -> str:
    """A GitHub or GitLab page address turned into the raw content's (dsl.md, "Catalogs")."""
    github = _GITHUB.match(url)
    if github:
        owner, repo, ref, path = github.groups()
        return f"https://raw.githubusercontent.com/{owner}/{repo}/{ref or 'HEAD'}{path or ''}"
    gitlab = _GITLAB.match(url)
    if gitlab:
        project, ref, path = gitlab.groups()
        return f"https://gitlab.com/{project}/-/raw/{ref}{path or ''}"
    return url


def _function_calls(value: Any, pointer: str) -> list[tuple[str, str]]:
    """(reference, pointer of its ``call``) of every cataloged or URL function called."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        call = value.get("call")
        if isinstance(call, str) and is_function_reference(call):
            found.append((call, pointer_join(pointer, "call")))
        for key, item in value.items():
            found += _function_calls(item, pointer_join(pointer, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _function_calls(item, pointer_join(pointer, index))
    return found


def _label(call: str, where: str) -> str:
    return call if call == where else f"{call} ({where})"


def _mapping(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _path(location: str, directory: Path) -> Path:
    path = Path(location.removeprefix("file://"))
    return path if path.is_absolute() else directory / path


def _read(where: str) -> str:
    if not where.startswith(("http://", "https://")):
        text, _ = read_definition_file(Path(where))
        return text
    import httpx  # only a definition that calls a function by URL pays for it

    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True) as client,
            client.stream("GET", where) as response,
        ):
            if response.status_code != 200:
                raise _fetch_error(where, f"GET returned {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DEFINITION_BYTES:
                    raise _fetch_error(where, f"larger than {MAX_DEFINITION_BYTES} bytes")
            return body.decode("utf-8", errors="replace")
    except httpx.HTTPError as e:
        raise _fetch_error(where, f"{type(e).__name__}: {e}") from None


def _fetch_error(where: str, reason: str) -> DefinitionError:
    return DefinitionError([Problem(where, 1, 1, "", f"cannot fetch it: {reason}")])


def _problem(source: str, locations: Locations, pointer: str, message: str) -> Problem:
    probe = pointer
    while probe not in locations and probe:
        probe = probe.rsplit("/", 1)[0]
    line, column = locations.get(probe, (1, 1))
    return Problem(source, line, column, pointer, message)
