"""Loading what every command needs, turning each failure into a clear exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workflow_runner.cli.output import EXIT_INVALID, fail
from workflow_runner.config import ConfigError, Settings, load_settings
from workflow_runner.dsl import Definition, DefinitionError, load_definition


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as e:
        fail(str(e), EXIT_INVALID)


def definition_or_exit(path: Path) -> Definition:
    try:
        return load_definition(path)
    except DefinitionError as e:
        count = len(e.problems)
        fail(
            f"{count} problem{'s' if count > 1 else ''} in the workflow definition:\n{e}",
            EXIT_INVALID,
        )


def parse_json_option(value: str | None, what: str) -> Any:
    """``--input '{"a": 1}'`` or ``--input @file.json``."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            fail(f"cannot read {what} file {path}: {e.strerror}", EXIT_INVALID)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", EXIT_INVALID)
