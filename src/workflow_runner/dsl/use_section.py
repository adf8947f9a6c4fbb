"""Reading the top-level ``use`` section: the named definitions tasks cite.

``use`` declares what the rest of a definition refers to by name: errors,
retries, timeouts, secrets, authentications, functions, catalogs and
extensions. This module reads them (and the retry policies and error
definitions a task may also write inline), so the generic walk in
``dsl/reader.py`` only has to call ``use`` once and look the names up after.

Each function takes the :class:`~workflow_runner.dsl.reader.DefinitionReader`
whose fields it fills, and is bound to it as the method task readers have
always called (``reader.use``, ``reader.function``, ``reader.retry``,
``reader.error_definition``): the same call, without a layer in between.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.extensions import read_extensions
from workflow_runner.dsl.loader import pointer_join
from workflow_runner.dsl.model import RetryPolicy, TaskModel

if TYPE_CHECKING:
    from workflow_runner.dsl.reader import DefinitionReader

SUPPORTED_USE = frozenset(
    {"errors", "secrets", "timeouts", "retries", "authentications", "functions", "catalogs"}
    | {"extensions"}
)
RETRY_PROPERTIES = ("delay", "backoff", "limit", "jitter", "when", "exceptWhen")


def read_use(reader: DefinitionReader, use: Any) -> tuple[str, ...]:
    """Read ``use``; named errors, retries and timeouts are kept for tasks that cite them."""
    if use is None:
        return ()
    if not isinstance(use, dict):
        reader.problem("/use", "'use' must be a mapping")
        return ()
    secrets: tuple[str, ...] = ()
    for key, value in use.items():
        pointer = pointer_join("/use", key)
        if key not in SUPPORTED_USE:
            reader.problem(pointer, f"use.{key} is not supported yet")
        elif key == "extensions":
            reader.extensions = read_extensions(reader, value)
        elif key == "secrets":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                reader.problem(pointer, "use.secrets must be a list of secret names")
            else:
                secrets = reader.secret_names = tuple(value)
        elif not isinstance(value, dict):
            reader.problem(pointer, f"use.{key} must be a mapping of names to definitions")
    if isinstance(use.get("authentications"), dict):
        reader.authentications = dict(use["authentications"])
    errors, retries, timeouts = (use.get(k) for k in ("errors", "retries", "timeouts"))
    if isinstance(errors, dict):
        for name, error in errors.items():
            if reader.error_definition(pointer_join("/use/errors", name), error):
                reader.errors[name] = error
    if isinstance(timeouts, dict):
        for name, timeout in timeouts.items():
            limit = reader.timeout(pointer_join("/use/timeouts", name), timeout)
            if limit is not None:
                reader.timeouts[name] = limit
    if isinstance(retries, dict):
        for name, retry in retries.items():
            policy = reader.retry(pointer_join("/use/retries", name), retry)
            if policy is not None:
                reader.retries[name] = policy
    catalogs, functions = use.get("catalogs"), use.get("functions")
    if isinstance(catalogs, dict):
        for name, catalog in catalogs.items():
            if not isinstance(catalog, dict) or "endpoint" not in catalog:
                reader.problem(pointer_join("/use/catalogs", name), "a catalog needs 'endpoint'")
            else:
                reader.catalogs[name] = catalog
    if isinstance(functions, dict):
        reader.functions = dict(functions)
        for name in functions:  # every one is checked, called or not
            reader.function(name)
    return secrets


def read_function(reader: DefinitionReader, name: str) -> TaskModel | None:
    """``use.functions.<name>`` read as a task, once; ``None`` if unknown, invalid or
    being read (a cycle): the ``call`` that names it says which."""
    if name in reader.function_models:
        return reader.function_models[name]
    if name not in reader.functions or name in reader.functions_reading:
        return None
    reader.functions_reading.append(name)
    pointer = pointer_join("/use/functions", name)
    model = reader.task(pointer, name, reader.functions[name], (), ())
    reader.functions_reading.pop()
    reader.function_models[name] = model
    return model


def read_retry(reader: DefinitionReader, pointer: str, retry: Any) -> RetryPolicy | None:
    if isinstance(retry, str):
        if retry not in reader.retries:
            reader.problem(pointer, f"retry policy {retry!r} is not defined in use.retries")
            return None
        return reader.retries[retry]
    if not isinstance(retry, dict):
        reader.problem(pointer, "retry must be a mapping or the name of a use.retries policy")
        return None
    for key in retry:
        if key not in RETRY_PROPERTIES:
            reader.problem(pointer_join(pointer, key), f"unknown retry property {key!r}")
    delay = timedelta(seconds=1)
    if "delay" in retry:
        delay = reader.duration(pointer_join(pointer, "delay"), retry["delay"]) or delay
    backoff = retry.get("backoff")
    if backoff is not None and (
        not isinstance(backoff, dict)
        or len(backoff) != 1
        or next(iter(backoff)) not in ("constant", "linear", "exponential")
    ):
        reader.problem(
            pointer_join(pointer, "backoff"),
            "backoff must be one of constant, linear or exponential",
        )
        backoff = None
    limit = retry.get("limit") or {}
    if not isinstance(limit, dict):
        reader.problem(pointer_join(pointer, "limit"), "limit must be {attempt, duration}")
        limit = {}
    count = (limit.get("attempt") or {}).get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        reader.problem(pointer_join(pointer, "limit"), "limit.attempt.count must be a number")
        count = None
    max_duration = None
    if limit.get("duration") is not None:
        max_duration = reader.duration(pointer_join(pointer, "limit"), limit["duration"])
    return RetryPolicy(
        delay=delay,
        backoff=next(iter(backoff)) if backoff else "constant",
        max_attempts=count,
        max_duration=max_duration,
        when=retry.get("when"),
        except_when=retry.get("exceptWhen"),
    )


def read_error_definition(reader: DefinitionReader, pointer: str, error: Any) -> bool:
    if not isinstance(error, dict) or "type" not in error or "status" not in error:
        reader.problem(pointer, "an error needs at least 'type' (a URI) and 'status'")
        return False
    return True
