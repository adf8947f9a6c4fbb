"""``workflow-runner convert FILE --to spec|zigflow``: rewrite a definition between dialects.

The converted definition goes to stdout (or ``--output``); every place where
no faithful rewrite exists goes to stderr as ``file:line:column (pointer):
message``. Exit 0 when the rewrite is faithful, 1 when it is not (nothing
written to ``--output``) unless ``--force``, 2 when the file cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow_runner.cli.output import EXIT_FAILED, err


def convert(
    file: Annotated[Path, typer.Argument(help="Definition to rewrite (YAML)")],
    to: Annotated[str, typer.Option("--to", help="Target dialect: spec or zigflow")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write the rewrite even where it is not faithful")
    ] = False,
) -> None:
    """Rewrite a definition into the other dialect; say where no faithful rewrite exists."""
    from workflow_runner.dsl.convert import TARGETS
    from workflow_runner.dsl.convert import convert as rewrite
    from workflow_runner.dsl.loader import read_definition_file

    if to not in TARGETS:
        raise typer.BadParameter(
            f"must be one of {', '.join(TARGETS)}, not {to!r}", param_hint="--to"
        )
    text, name = read_definition_file(file)
    result = rewrite(text, name, to)
    for finding in result.findings:
        err.print(str(finding), markup=False, soft_wrap=True)
    if result.source_dialect == to:
        err.print(f"{name}: already in the {to} dialect; unchanged", markup=False)
    blocked = bool(result.blocking) and not force
    if blocked:
        err.print(
            f"{name}: {len(result.blocking)} place(s) have no faithful {to} rewrite; "
            "nothing written (--force writes it anyway)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED)
    if output is None:
        typer.echo(result.text, nl=False)
    else:
        output.write_text(result.text)
