"""Continue-as-new: where a run stands, so the next run of its chain goes on from there.

A run's history must stay bounded (Temporal refuses one past 51,200 events or
50 MB), so a long run — a ``for`` over 100,000 items, a ``listen`` loop that
never ends — continues as new when its history passes
``CONTINUE_AS_NEW_AFTER_EVENTS`` (``document.metadata.canMaxHistoryLength`` or
``continueAsNew.maxHistoryLength`` for one definition) or when Temporal
suggests it. The new run gets the same workflow id and its state as its
second argument; large state is a payload like any other, so the claim check
offloads it.

**Where a run can continue.** Only as a task is about to start, and only when
every task list it is inside can be re-entered at a position: the top-level
``do``, a ``do`` task's list and a ``for`` iteration (the interpreter keeps a
:class:`Frame` per list, and a container task that can resume registers its
position with ``Execution.save_point``). Inside ``fork`` branches, ``try``
bodies and ``catch`` handlers, a ``listen``'s ``foreach`` and a Zigflow block
the run does not continue: it waits until it is back at a resumable task,
so history grows a little past the threshold rather than a position being
invented. What is carried: each list's current task index and input, each
container's task input and position (a ``for``: its items, the index, the
output so far and Zigflow's collected outputs), ``$context``, ``$data``, the
count of tasks run, the first run's start time, and events received but not
yet consumed by a ``listen``. What is not: the ``MAX_THEN_JUMPS`` count (each
run of a chain starts at zero, so a ``listen`` loop can go on for ever while a
busy cycle still fails long before its history would need a new run), a
workflow ``timeout`` (it restarts with each run), and the secret nonce (each
run draws its own, so a secret token kept in ``$context`` does not resolve
after a continue-as-new).

**Replay.** The decision depends on the history length (recorded) and the
threshold; lowering ``CONTINUE_AS_NEW_AFTER_EVENTS`` while runs are open makes
their replays continue where the originals did not (a non-determinism error):
change it with a new task queue, as for any definition change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FORMAT = 1  # of the state below; bumped when it changes shape


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(slots=True)
class Frame:
    """One task list being run: its current task, that task's input, and (for a container
    task that can resume) how to read its position. Slots: one is made per list run, so
    per loop iteration (~1% of a loop of sets in callgrind)."""

    pointer: str  # of the list
    index: int = 0
    task_pointer: str = ""
    value: Any = None  # the current task's raw input
    task_input: Any = UNSET  # after input.from, once the current task has started
    body: Callable[[], Any] | None = None  # the current task's position, when it can resume

    def at(self, index: int, task_pointer: str, value: Any) -> None:
        self.index, self.task_pointer, self.value = index, task_pointer, value
        self.task_input, self.body = UNSET, None

    def state(self) -> dict[str, Any]:
        return {
            "list": self.pointer,
            "index": self.index,
            "value": self.value,
            "taskInput": None if self.task_input is UNSET else self.task_input,
            "body": self.body() if self.body is not None else None,
        }


def resumable(frames: list[Frame], task_pointer: str) -> bool:
    """Can the run continue as new as ``task_pointer`` is about to start?"""
    if not frames or frames[-1].task_pointer != task_pointer:
        return False  # run by a container directly (fork, a block), not by its list
    if frames[-1].task_input is not UNSET:
        return False
    return all(f.body is not None and f.task_input is not UNSET for f in frames[:-1])


def snapshot(frames: list[Frame]) -> list[dict[str, Any]]:
    return [frame.state() for frame in frames]
