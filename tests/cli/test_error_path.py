"""The CLI's one error path, on exceptions no command raises on purpose.

Real failures (an unknown workflow, an unreachable server, bad input) are
tested through the real script in test_cli_errors.py; these check what the
path does with anything else: one line, an exit code, no traceback.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from workflow_runner.cli.main import CommandGroup


def app_raising(error: BaseException) -> typer.Typer:
    app = typer.Typer(cls=CommandGroup, add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands, so typer builds a group
        pass

    return app


def invoke(error: BaseException) -> tuple[int, str]:
    result = CliRunner().invoke(app_raising(error), ["boom"])
    return result.exit_code, result.output


def test_an_unexpected_exception_is_one_line_naming_its_type() -> None:
    code, output = invoke(ValueError("first line\nsecond line"))
    assert code == 1
    assert output == "error: unexpected ValueError: first line; second line\n"


def test_an_interrupt_exits_130_in_one_line() -> None:
    assert invoke(KeyboardInterrupt()) == (130, "error: interrupted\n")


def test_a_recursion_error_is_invalid_input() -> None:
    assert invoke(RecursionError("maximum recursion depth exceeded")) == (
        2,
        "error: data is nested too deeply to process\n",
    )


def test_an_os_error_names_its_file() -> None:
    code, output = invoke(PermissionError(13, "Permission denied", "/etc/shadow"))
    assert (code, output) == (1, "error: Permission denied (/etc/shadow)\n")


def test_typers_own_exit_passes_through_untouched() -> None:
    assert invoke(typer.Exit(3)) == (3, "")
