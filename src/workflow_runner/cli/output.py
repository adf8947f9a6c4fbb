"""How the CLI talks: JSON results on stdout, everything for people on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False)

EXIT_FAILED = 1
EXIT_INVALID = 2


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def one_line(text: str) -> str:
    """An error message as one line: a multi-line one would read as several errors."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def fail_with_error_json(error: dict[str, Any]) -> NoReturn:
    sys.stderr.write(json.dumps(error, indent=2, ensure_ascii=False) + "\n")
    raise typer.Exit(EXIT_FAILED)
