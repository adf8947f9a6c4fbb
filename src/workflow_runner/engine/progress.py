"""What a run says about its tasks as they go: the numbered notes ``run`` prints (the
``progress`` query), the tasks running now (``status``), and how many it completed.

Notes are for queries only, so none of this is in history; the count of completed tasks
is read by the continue-as-new check, and is deterministic (it counts task completions).

Two notes per task run, kept flat: three items of one list a note (task, status, time),
numbered by their place. Not a tuple a note: a kept tuple is an object the garbage
collector counts and scans. A loop of 100 ``set`` tasks kept 200 of them, and its worker
collected its young objects 2.6 times as often as a hand-written one (``gc.callbacks``:
0.27 collections a workflow against 0.105). With flat notes: 0.16.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

# Notes kept for the progress query: a caller that fell further behind sees a gap in seq.
PROGRESS_WINDOW = 2000


class Progress:
    """The notes of one run: ``(task, status, at)``, the n-th numbered ``offset + n``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock  # workflow time (the run's loop's own time() once it runs)
        self.notes: list[str | float] = []  # task, status, time; task, status, time; ...
        self.offset = 0  # notes dropped from the front (and, continued, the last run's)
        self._running_before: dict[str, int] = {}  # tasks running as of the dropped notes
        self.completed = 0  # tasks completed by this run

    def note(self, pointer: str, status: str) -> None:
        """Two per task run (started, then completed, failed or skipped): kept lean, the
        tasks running now are tallied when asked (:attr:`running`), not at every note."""
        if status == "completed":
            self.completed += 1
        notes = self.notes
        notes += pointer, status, self.clock()  # a dict when queried
        if len(notes) >= 6 * PROGRESS_WINDOW:
            dropped = len(notes) // 3 - PROGRESS_WINDOW
            self._running_before = _tally(self._running_before, notes[: 3 * dropped])
            del notes[: 3 * dropped]
            self.offset += dropped

    @property
    def running(self) -> dict[str, int]:
        """Tasks started and not finished, with how many runs of each (fork: several)."""
        return _tally(self._running_before, self.notes)

    def since(self, since: int) -> list[dict[str, Any]]:
        """Notes from number ``since`` on (the oldest kept, if those were dropped)."""
        first, notes = max(since - self.offset, 0), self.notes
        return [
            {"task": notes[i], "status": notes[i + 1], "at": notes[i + 2], "seq": seq}
            for seq, i in enumerate(range(3 * first, len(notes), 3), start=self.offset + first)
        ]

    @property
    def next_seq(self) -> int:
        """The number the next note gets (a continued run's notes go on from it)."""
        return self.offset + len(self.notes) // 3


def _tally(running: dict[str, int], notes: list[str | float]) -> dict[str, int]:
    """``running`` after ``notes`` (flat, as kept): a start counts one up, a completion or
    failure one down."""
    running = dict(running)
    for pointer, status in zip(cast(list[str], notes[::3]), notes[1::3], strict=True):
        if status == "started":
            running[pointer] = running.get(pointer, 0) + 1
        elif status == "completed" or status == "failed":
            count = running.get(pointer)
            if count == 1:
                del running[pointer]
            elif count is not None:
                running[pointer] = count - 1
    return running
