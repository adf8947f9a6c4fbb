"""The limits a worker imposes on the runs it executes, readable from workflow code.

Workflow code has no access to the worker's :class:`~workflow_runner.config.Settings`,
and several workers with different settings can share one process (tests,
embedders). So :func:`workflow_runner.engine.worker.running_worker` registers
its limits under its task queue and the workflow looks them up with
``workflow.info().task_queue``; a queue nobody registered (a ``Replayer``, a
worker built by hand) gets the defaults.

Only limits whose value cannot change a successful run's commands live here:
changing them between a run and its replay can at worst change *when* a run
that breaks them fails. The batch size of the interpreter's yields to Temporal
is a constant in ``engine/workflow.py`` for that reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Any

from workflow_runner.config import Settings
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import DEFAULT_BUDGET, Budget, json_size, to_json


@dataclass(frozen=True)
class RunLimits:
    """What EXPRESSION_*, CLAIMCHECK_MAX_PAYLOAD_BYTES and MAX_THEN_JUMPS allow."""

    expression: Budget = DEFAULT_BUDGET
    max_payload_bytes: int = 512 * 1024 * 1024
    max_then_jumps: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RunLimits:
        return cls(
            expression=Budget(
                seconds=settings.expression_timeout_seconds,
                memory_mb=settings.expression_max_memory_mb,
            ),
            max_payload_bytes=settings.max_payload_bytes,
            max_then_jumps=settings.max_then_jumps,
        )


DEFAULT_LIMITS = RunLimits()


# -- payload sizes ---------------------------------------------------------------------

# A payload is its JSON plus the protobuf envelope (``encoding: json/plain``
# metadata, field tags, lengths): under 40 bytes; this leaves some margin.
PAYLOAD_ENVELOPE_BYTES = 64
# Values up to this size are measured by a Python walk that stops here (no copy).
QUICK_WALK_BYTES = 64 * 1024


def check_payload_size(value: Any, what: str, limit: int, instance: str | None) -> None:
    """Refuse, as a DSL error, a value the claim check would refuse to store.

    The driver enforces CLAIMCHECK_MAX_PAYLOAD_BYTES while Temporal encodes a
    workflow task's completion, outside workflow code: a refusal there fails
    the *workflow task*, which Temporal retries for ever, and ``run`` hangs.
    Checked here, in workflow code, before the value is returned or
    scheduled, the run fails once with a message that says what to change.
    The size is the raw JSON (what the codec decompresses back to, and it
    refuses more than the same limit).
    """
    size = json_size(value, QUICK_WALK_BYTES)
    if size > QUICK_WALK_BYTES:
        # Big: orjson, not a Python walk nor ``json.dumps`` (a Python walk of
        # 1,000,000 numbers in the sandbox took over 2 s; json.dumps of 60 MB
        # ~1.3 s, in workflow code, where the deadlock detector allows 2 s).
        size = len(to_json(value))
    if size + PAYLOAD_ENVELOPE_BYTES > limit:
        refuse_payload(what, size, limit, instance)


def refuse_payload(what: str, size: int, limit: int, instance: str | None) -> None:
    """Raise the DSL error for a value of ``size`` bytes of JSON over ``limit``."""
    raise WorkflowError.of(
        "runtime",
        f"{what} is over CLAIMCHECK_MAX_PAYLOAD_BYTES ({limit} bytes): "
        f"{'more than ' if size > limit else ''}{size} bytes of JSON; raise the limit or "
        "pass less data (select the fields you need with output.as)",
        title="Payload too large",
        instance=instance,
    )


# -- giving memory back ----------------------------------------------------------------

# After a run that held a large document, glibc keeps the freed pages of its
# heap (and of the arenas of the threads that decoded it) for reuse: a worker
# that had run 50 MB payloads held 1.38 GB afterwards. ``malloc_trim(0)``
# returns them. It runs on a timer thread shortly after the run ends, once
# the run's values are gone; it changes nothing a workflow can observe.
TRIM_DELAY_SECONDS = 1.0
_trim_lock = threading.Lock()
_trim_pending = False


def _load_malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_memory_soon(delay: float = TRIM_DELAY_SECONDS) -> None:
    """Hand freed heap memory back to the OS in ``delay`` seconds (at most one pending)."""
    global _trim_pending
    if _MALLOC_TRIM is None:
        return
    with _trim_lock:
        if _trim_pending:
            return
        _trim_pending = True
    timer = threading.Timer(delay, _trim_now)
    timer.daemon = True
    timer.start()


def _trim_now() -> None:
    global _trim_pending
    with _trim_lock:
        _trim_pending = False
    _MALLOC_TRIM(0)


# -- yielding to Temporal ----------------------------------------------------------------

# A workflow task must finish within 2 s (Temporal's deadlock detector). A
# loop of deterministic tasks awaits nothing, so without help all of it runs in
# one workflow task: 90,000 ``set`` iterations were enough to trip the
# detector, and the retried task trips it again, for ever. The interpreter
# therefore counts work and, every WORK_PER_YIELD units, awaits a no-op local
# activity (``evaluate_expression`` of ``.``, registered on every worker that
# runs the workflow): its result arrives in a new activation, so the detector
# starts again. Counting is by task runs and bytes handed to jq, never by wall
# clock, so a replay yields at exactly the same points. Each yield costs one
# MarkerRecorded event; a 1 ms timer instead cost 5 events and ~1 s each on the
# dev server (its timer queue polls), 20,000 items took 10 s instead of 0.6 s.
WORK_PER_YIELD = 2000
# A task run is one unit; an expression sent to jq is one more plus one per
# this many bytes of input (jq costs ~35 ns a byte, a small evaluation ~0.1 ms).
BYTES_PER_UNIT = 4096


@dataclass
class Pacer:
    """Counts the work done since the last yield; says when the next one is due."""

    every: int = WORK_PER_YIELD
    work: int = 0
    yields: int = 0

    def add(self, units: int) -> None:
        self.work += units

    def tick(self) -> bool:
        """``add(1)`` then ``due()`` in one call (before every task run)."""
        self.work += 1
        if self.work < self.every:
            return False
        self.work = 0
        self.yields += 1
        return True

    def due(self) -> bool:
        if self.work < self.every:
            return False
        self.work = 0
        self.yields += 1
        return True
