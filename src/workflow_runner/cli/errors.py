"""The CLI's one error path: every command's exceptions end in :func:`explain`.

Chosen by the exception's type, never its text: one line on stderr (a failed
workflow's spec error as JSON) and an exit code, and no traceback on the
terminal. Exception classes are looked up only in modules already imported, so
reporting an error never imports Temporal (a second) to rule its errors out.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

from workflow_runner.cli.output import (
    EXIT_FAILED,
    EXIT_INVALID,
    fail,
    fail_with_error_json,
    one_line,
)

EXIT_INTERRUPTED = 130
log = logging.getLogger(__name__)


class WorkflowFailed(Exception):
    """Carries the spec error out of the event loop, printed once all else is shut down."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("title") or error.get("type"))
        self.error = error


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """The exception class ``module.name``, if that module was ever imported.

    An exception of a module nobody imported cannot have been raised, so the
    error path need not import Temporal (a second) to rule its errors out.
    """
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(error: BaseException, module: str, name: str) -> bool:
    cls = _loaded(module, name)
    return cls is not None and isinstance(error, cls)


def explain(error: BaseException, command: str | None) -> NoReturn:
    """The CLI's one error path: one line on stderr (the spec error as JSON) and an exit code.

    Anything not recognised is reported by its type and message; its
    traceback goes to the log file when logging is set up, never to the
    terminal.
    """
    if isinstance(error, KeyboardInterrupt):
        kept = "; the workflow keeps its state in Temporal" if command == "run" else ""
        fail(f"interrupted{kept}", EXIT_INTERRUPTED)
    if isinstance(error, WorkflowFailed):
        fail_with_error_json(error.error)
    if _is(error, "workflow_runner.config", "ConfigError"):
        fail(str(error), EXIT_INVALID)
    if _is(error, "workflow_runner.dsl.errors", "DefinitionError") or _is(
        error, "workflow_runner.engine.registry", "DefinitionConflictError"
    ):
        fail(str(error), EXIT_INVALID)
    if any(
        _is(error, module, name)
        for module, name in (
            ("workflow_runner.engine.client", "TemporalUnreachableError"),
            ("workflow_runner.runtime.devserver", "DevServerError"),
            ("workflow_runner.claimcheck.errors", "StoreError"),
            ("workflow_runner.claimcheck.codec_server", "CodecServerError"),
            ("workflow_runner.engine.scheduling.schedules", "ScheduleError"),
            ("workflow_runner.engine.visibility", "SearchAttributeNotRegisteredError"),
        )
    ):
        fail(one_line(str(error)))
    if _is(error, "temporalio.exceptions", "WorkflowAlreadyStartedError"):
        fail(
            f"workflow {getattr(error, 'workflow_id', '?')} is already running; choose another --id"
        )
    if _is(error, "temporalio.service", "RPCError"):
        status = getattr(error, "status", None)
        code = EXIT_INVALID if getattr(status, "name", "") == "INVALID_ARGUMENT" else EXIT_FAILED
        name = getattr(status, "name", "error")
        fail(f"Temporal refused the request ({name}): {one_line(str(error))}", code)
    if isinstance(error, RecursionError):
        fail("data is nested too deeply to process", EXIT_INVALID)
    if isinstance(error, MemoryError):
        fail("out of memory")
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        fail(f"{error.strerror or one_line(str(error))}{where}")
    if logging.getLogger().handlers:  # a log file or a service's stderr: keep the details
        log.error("%s failed", command or "workflow-runner", exc_info=error)
    fail(f"unexpected {type(error).__name__}: {one_line(str(error)) or 'no message'}")
