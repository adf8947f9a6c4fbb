"""``validate``: check definitions without running them (editors and pre-commit hooks run
it, so it imports only what reading a definition needs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow_runner.cli.options import DialectOption
from workflow_runner.cli.output import EXIT_INVALID, err


def validate(
    files: Annotated[list[Path], typer.Argument(help="Definitions to check")],
    dialect: DialectOption = None,
) -> None:
    """Check definitions without running them; exit 2 if any is invalid.

    Each valid file is printed with the dialect it was read in (spec or zigflow)
    and, for a Zigflow document of several workflows, their names.
    """
    from workflow_runner.dsl.errors import DefinitionError
    from workflow_runner.engine.definition import load_definition

    bad = 0
    for file in files:
        try:
            definition = load_definition(file, dialect)
        except DefinitionError as e:
            bad += 1
            err.print(str(e), soft_wrap=True, markup=False)
            continue
        workflows = definition.model.workflows
        several = f", workflows: {', '.join(workflows)}" if workflows else ""
        err.print(
            f"✓ {file}: {definition.reference} (dialect: {definition.dialect}{several})",
            markup=False,
        )
    if bad:
        raise typer.Exit(EXIT_INVALID)
