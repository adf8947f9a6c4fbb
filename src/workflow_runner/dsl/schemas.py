"""``input.schema``, ``output.schema``, ``export.schema``: JSON Schema, checked where the spec says.

A schema is read (and checked as a schema) with the definition, so a bad one
is a located definition problem before anything runs. At run time the
interpreter validates data against it in workflow code, which is fine
because validation is a pure function of the schema and the value: no clock,
no randomness and no I/O. The last point is why a schema must be
self-contained: a ``$ref`` to anything but the same document (``#...``) is
refused when reading, and the validator is built with an empty registry so
it could not fetch one anyway. ``resource`` (an external schema) is refused
by name for the same reason: the worker would have to read it, from workflow
code, on every replay.

jsonschema is imported only when a definition has a schema, so ``validate``
and ``--help`` stay light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from workflow_runner.dsl.errors import WorkflowError

SCHEMA_PROPERTIES = ("format", "document", "resource")


@dataclass(frozen=True)
class DataSchema:
    """A checked JSON Schema and where it is written (for error messages)."""

    document: Mapping[str, Any]
    pointer: str  # e.g. /do/0/a/input/schema

    @cached_property
    def validator(self) -> Any:
        """Built once per model (models are cached per definition, shared by runs)."""
        return _validator_for(self.document)

    def validate(self, value: Any, *, what: str, instance: str) -> None:
        """Raise the spec's ``validation`` error when ``value`` does not match.

        The error names the first failing place (a JSONPath into ``value``) and
        what is wrong there; which error is "first" is jsonschema's
        ``best_match``, a pure function of the schema and the value.
        """
        from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

        errors = list(self.validator.iter_errors(value))
        if not errors:
            return
        error = best_match(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise WorkflowError.of(
            "validation",
            f"{what} does not match {self.pointer} at {error.json_path}: {error.message}{more}",
            title="Schema validation failed",
            instance=instance,
        )


def read_schema(pointer: str, spec: Any, problem: Callable[[str, str], None]) -> DataSchema | None:
    """The schema under ``pointer``, or ``None`` after reporting each problem with ``problem``."""
    if not isinstance(spec, dict):
        problem(pointer, "schema must be {format: json, document: {...}}")
        return None
    for key in spec:
        if key not in SCHEMA_PROPERTIES:
            problem(
                f"{pointer}/{key}",
                f"unknown schema property {key!r}; expected format, document or resource",
            )
    fmt = spec.get("format", "json")
    if not isinstance(fmt, str) or fmt.split(":", 1)[0] != "json":
        problem(f"{pointer}/format", f"schema format {fmt!r} is not supported; use 'json'")
        return None
    if "document" not in spec:
        if "resource" in spec:
            problem(
                f"{pointer}/resource",
                "an external schema (schema.resource) is not supported yet: the worker would "
                "read it from workflow code; write the schema inline under schema.document",
            )
        else:
            problem(pointer, "schema needs 'document' (the JSON Schema, inline)")
        return None
    document = spec["document"]
    if not isinstance(document, dict):
        problem(f"{pointer}/document", "schema.document must be a JSON Schema (a mapping)")
        return None
    remote = [(w, r) for w, r in _references(document, f"{pointer}/document") if r[:1] != "#"]
    for where, ref in remote:
        problem(
            where,
            f"$ref {ref!r} points outside this schema; only local references ('#/...') "
            "are supported (no schema is fetched from workflow code)",
        )
    if remote:
        return None
    message = _schema_problem(document)
    if message is not None:
        problem(f"{pointer}/document", f"invalid JSON Schema: {message}")
        return None
    return DataSchema(document=document, pointer=pointer)


def _references(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """Every ``$ref``/``$dynamicRef`` string in a schema document, with its pointer."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{pointer}/{key}"
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield where, value
            else:
                yield from _references(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, f"{pointer}/{index}")


def _schema_problem(document: Any) -> str | None:
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    cls = validator_for(document, default=_default_validator())
    try:
        cls.check_schema(document)
    except SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        return f"{e.message}" + (f" (at {where})" if where else "")
    return None


def _default_validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator


def _validator_for(document: Mapping[str, Any]) -> Any:
    from jsonschema.validators import validator_for
    from referencing import Registry  # type: ignore[import-not-found]

    cls = validator_for(document, default=_default_validator())
    # An empty registry: a reference outside the document can never be fetched.
    return cls(document, registry=Registry())
