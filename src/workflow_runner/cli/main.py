"""``workflow-runner``: run, validate and operate DSL workflows on Temporal.

Each command lives in its own module (``cli/<command>.py``; ``start``, ``result``,
``status`` and ``emit`` in ``cli/runs.py``, the two servers in ``cli/servers.py``);
this module only assembles them. ``run``'s output contract is in ``cli/run.py``.

Errors: every command's exceptions end in one place, :meth:`CommandGroup.invoke`,
which hands them to ``cli/errors.py``: one line on stderr and an exit code per
exception type; no command prints a traceback, and no error is recognised by its text.

Start-up time: ``validate`` and ``--help`` are run by editors, pre-commit
hooks and people, so this module imports only typer and rich at the top.
Temporal, aiohttp, the AWS SDK and prometheus_client (about a second of
imports) are imported inside the commands that use them, and ``blobs`` is
loaded only when it is invoked.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command

from workflow_runner.cli.errors import explain

# Sub-apps imported only when invoked: name -> (module, attribute, help for the listing).
LAZY_GROUPS: dict[str, tuple[str, str, str]] = {
    "blobs": ("workflow_runner.cli.blobs", "blobs_app", "Inspect and manage offloaded payloads."),
}


class CommandGroup(TyperGroup):
    """The top-level group: one error path for every command, and lazily loaded sub-apps."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, _, help_text) in LAZY_GROUPS.items():
            # A stand-in that only lists the group in --help; resolve_command swaps in the real one.
            self.commands[name] = TyperGroup(name=name, help=help_text)
        self._loaded: set[str] = set()

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in LAZY_GROUPS and name not in self._loaded:
            module, attribute, _ = LAZY_GROUPS[name]
            holder = typer.Typer(add_completion=False)  # built as add_typer would have built it
            holder.add_typer(getattr(importlib.import_module(module), attribute), name=name)
            built = get_command(holder)
            assert isinstance(built, TyperGroup)
            self.commands[name] = built.commands[name]
            self._loaded.add(name)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise  # typer's own exits and usage errors; a closed pipe, which typer quiets
        except (Exception, KeyboardInterrupt) as error:
            explain(error, ctx.invoked_subcommand)


app = typer.Typer(
    cls=CommandGroup,
    name="workflow-runner",
    help="Run Serverless Workflow DSL 1.0 workflows on Temporal, with large payloads offloaded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# name -> the module defining it (cli/<module>.py), each imported with typer and rich only
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run"),
    "validate": ("validate", "validate"),
    "worker": ("worker", "worker"),
    "start": ("runs", "start"),
    "result": ("runs", "result"),
    "status": ("runs", "status"),
    "emit": ("runs", "emit"),
    "dev-server": ("servers", "dev_server"),
    "codec-server": ("servers", "codec_server"),
    "ls": ("ls", "ls"),
    "convert": ("convert", "convert"),
    "schedule": ("schedule", "schedule"),
}
for _name, (_module, _function) in COMMANDS.items():
    app.command(_name)(
        getattr(importlib.import_module(f"workflow_runner.cli.{_module}"), _function)
    )

if __name__ == "__main__":
    app()
