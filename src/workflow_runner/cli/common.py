"""Loading what every command needs, turning each failure into a clear exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workflow_runner.cli.output import EXIT_INVALID, fail
from workflow_runner.config import ConfigError, Settings, load_settings
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.dsl.loader import MAX_NESTING
from workflow_runner.engine.definition import Definition, load_definition


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as e:
        fail(str(e), EXIT_INVALID)


def definition_or_exit(
    path: Path, dialect: str | None = None, workflow: str | None = None
) -> Definition:
    try:
        return load_definition(path, dialect, workflow)
    except DefinitionError as e:
        count = len(e.problems)
        fail(
            f"{count} problem{'s' if count > 1 else ''} in the workflow definition:\n{e}",
            EXIT_INVALID,
        )


def definitions_or_exit(paths: list[Path]) -> list[Definition]:
    """Every definition in ``paths`` (files, or folders of ``*.yaml``/``*.yml``)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            files.append(path)
    return [definition_or_exit(file) for file in files]


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``, counted without recursing."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json_option(value: str | None, what: str, *, max_bytes: int) -> Any:
    """``--input '{"a": 1}'`` or ``--input @file.json``; exit 2 naming ``what`` if unusable.

    Input obeys the same bounds as a definition's data: a file larger than
    CLAIMCHECK_MAX_PAYLOAD_BYTES is refused before it is read, and nesting
    deeper than ``MAX_NESTING`` is refused here rather than as a recursion
    error inside Temporal's payload converter or the workflow.
    """
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            size = path.stat().st_size
            if size > max_bytes:
                fail(
                    f"{what} file {path} is {size} bytes, more than the {max_bytes} that "
                    "CLAIMCHECK_MAX_PAYLOAD_BYTES allows",
                    EXIT_INVALID,
                )
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            fail(f"cannot read {what} file {path}: {e.strerror}", EXIT_INVALID)
        except UnicodeDecodeError as e:
            fail(f"{what} file {path} is not UTF-8 text: {e.reason}", EXIT_INVALID)
    too_deep = f"{what} is nested too deeply (more than {MAX_NESTING} levels)"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", EXIT_INVALID)
    except RecursionError:
        fail(too_deep, EXIT_INVALID)
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        fail(f"{what} is not usable JSON: {e}", EXIT_INVALID)
    if nesting_depth(parsed) > MAX_NESTING:
        fail(too_deep, EXIT_INVALID)
    return parsed
