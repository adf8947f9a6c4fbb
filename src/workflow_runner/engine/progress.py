"""What a run says about its tasks as they go: the numbered notes ``run`` prints (the
``progress`` query), the tasks running now (``status``), and how many it completed.

Notes are for queries only, so none of this is in history; the count of completed tasks
is read by the continue-as-new check, and is deterministic (it counts task completions).
Two notes per task run: kept to a tuple appended to a list, numbered by their place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Notes kept for the progress query: a caller that fell further behind sees a gap in seq.
PROGRESS_WINDOW = 2000


class Progress:
    """The notes of one run: ``(task, status, at)``, the n-th numbered ``offset + n``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock  # workflow time (the run's loop's own time() once it runs)
        self.notes: list[tuple[str, str, float]] = []
        self.offset = 0  # notes dropped from the front (and, continued, the last run's)
        self._running_before: dict[str, int] = {}  # tasks running as of the dropped notes
        self.completed = 0  # tasks completed by this run

    def note(self, pointer: str, status: str) -> None:
        """Two per task run (started, then completed, failed or skipped): kept lean, the
        tasks running now are tallied when asked (:attr:`running`), not at every note."""
        if status == "completed":
            self.completed += 1
        notes = self.notes
        notes.append((pointer, status, self.clock()))  # a dict when queried
        if len(notes) >= 2 * PROGRESS_WINDOW:
            dropped = len(notes) - PROGRESS_WINDOW
            self._running_before = _tally(self._running_before, notes[:dropped])
            del notes[:dropped]
            self.offset += dropped

    @property
    def running(self) -> dict[str, int]:
        """Tasks started and not finished, with how many runs of each (fork: several)."""
        return _tally(self._running_before, self.notes)

    def since(self, since: int) -> list[dict[str, Any]]:
        """Notes from number ``since`` on (the oldest kept, if those were dropped)."""
        first = max(since - self.offset, 0)
        return [
            {"task": task, "status": status, "at": at, "seq": self.offset + index}
            for index, (task, status, at) in enumerate(self.notes[first:], start=first)
        ]

    @property
    def next_seq(self) -> int:
        """The number the next note gets (a continued run's notes go on from it)."""
        return self.offset + len(self.notes)


def _tally(running: dict[str, int], notes: list[tuple[str, str, float]]) -> dict[str, int]:
    """``running`` after ``notes``: a start counts one up, a completion or failure one down."""
    running = dict(running)
    for pointer, status, _ in notes:
        if status == "started":
            running[pointer] = running.get(pointer, 0) + 1
        elif status == "completed" or status == "failed":
            count = running.get(pointer)
            if count == 1:
                del running[pointer]
            elif count is not None:
                running[pointer] = count - 1
    return running
