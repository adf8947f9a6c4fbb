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
        self.running: dict[str, int] = {}  # tasks started and not finished (fork: several)
        self.completed = 0  # tasks completed by this run

    def note(self, pointer: str, status: str) -> None:
        """Two per task run (started, then completed, failed or skipped): kept lean."""
        running = self.running
        if status == "started":
            running[pointer] = running.get(pointer, 0) + 1
        elif status == "completed" or status == "failed":
            if status == "completed":
                self.completed += 1
            count = running.get(pointer)
            if count == 1:
                del running[pointer]
            elif count is not None:
                running[pointer] = count - 1
        notes = self.notes
        notes.append((pointer, status, self.clock()))  # a dict when queried
        if len(notes) >= 2 * PROGRESS_WINDOW:
            dropped = len(notes) - PROGRESS_WINDOW
            del notes[:dropped]
            self.offset += dropped

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
