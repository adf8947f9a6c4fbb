"""The DSL interpreter. Runs inside the Temporal workflow, so it must be deterministic.

Data flow per task, as in the spec: raw input → ``if`` → ``input.schema`` →
``input.from`` → the task → ``output.as`` → ``output.schema`` → ``export.as``
(which replaces ``$context``) → ``export.schema``.
This module owns that flow and the task lists; what each task does lives in
its own module under ``engine/tasks`` (``task.execute``), and anything with
I/O goes through ``self.io`` (:class:`~workflow_runner.engine.tasks.base.WorkflowIO`),
so the interpreter runs the same against Temporal and against a test fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import (
    truthy,
)
from workflow_runner.dsl.metadata import ANNOTATIONS
from workflow_runner.dsl.model import TaskList, WorkflowModel
from workflow_runner.engine.continuation import Frame, resumable, snapshot
from workflow_runner.engine.dialects import (
    FLOW_DIRECTIVES,
    MODELS,
    DataModel,
    is_block,
)
from workflow_runner.engine.extension_hooks import IN_EXTENSION, extended
from workflow_runner.engine.interpreter_expressions import TaskExpressions
from workflow_runner.engine.tasks.base import Outcome, Task, WorkflowIO, checked, scope_of

# MAX_THEN_JUMPS' default. Only jumps back to an earlier (or the same) task can
# make a cycle, so only those are counted: a long ``for`` is never cut short.
MAX_THEN_JUMPS = 10_000


def _unbind_nothing() -> None:
    """What :meth:`Interpreter.bind_data` returns when ``$data`` is not kept."""


# The builtin as imported (outside the sandbox, whose thread-local isinstance costs ~1 µs a
# call during activations; see dsl/expressions.py): per-task checks of our own models.
_isinstance = isinstance


@dataclass
class Interpreter(TaskExpressions):
    workflow: WorkflowModel
    io: WorkflowIO
    workflow_info: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    context: Any = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    max_then_jumps: int = MAX_THEN_JUMPS
    # False when nothing can read $data (engine/data_reads.py): set results and loop
    # variables are then not merged into it, two dict copies per loop item saved.
    keeps_data: bool = True
    runs: int = 0
    jumps_back: int = 0
    uuids: int = 0  # Zigflow's uuid: how many this run made (they derive from the run id)
    # continue-as-new (engine/continuation.py): the lists being run, innermost last; the
    # saved lists still to re-enter; saved positions of containers being resumed
    frames: list[Frame] = field(default_factory=list)
    resume: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, Any] = field(default_factory=dict)
    lists: list[TaskList] = field(default_factory=list)  # the lists being run, innermost last

    # The data model of the definition's dialect (engine/dialects.py): an attribute, not a
    # property, because it is asked ~5 times a task.
    policy: DataModel = field(init=False, repr=False)
    # policy.declared of each list run (by identity: the lists live as long as the model)
    _declared: dict[int, frozenset[int]] = field(default_factory=dict, init=False, repr=False)
    # Bare tasks run in run_list itself (see there): the spec's dialect, no extensions.
    _runs_bare: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.policy = MODELS[self.workflow.dialect]
        self._runs_bare = self.policy.passes_through and not self.workflow.extensions

    # -- entry point ----------------------------------------------------------

    async def run(self, raw_input: Any) -> Any:
        self.workflow_info = {**self.workflow_info, "input": raw_input}
        spec = self.workflow
        value = self.policy.first_input(raw_input)
        self.data = {**self.policy.initial_data(raw_input), **self.data}
        if spec.input_schema is not None and not self.resume:
            spec.input_schema.validate(raw_input, what="the workflow input", instance="/input")
        if spec.input_from is not None and not self.resume:
            value = await self._eval_own(spec.input_from, value, {}, "/input/from")
        output, _ = await self._with_timeout(
            self.run_list(spec.do, value, {}), self._time_left(spec.timeout), "", spec.timeout
        )
        if spec.output_as is not None:
            output = await self._eval_own(spec.output_as, output, {"output": output}, "/output/as")
        if spec.output_schema is not None:
            spec.output_schema.validate(output, what="the workflow output", instance="/output")
        return output

    # -- task lists and tasks (Execution) --------------------------------------

    async def run_list(
        self, tasks: TaskList, value: Any, scope: dict[str, Any], frame: Frame | None = None
    ) -> Outcome:
        """Run ``tasks`` in order, following ``then``: one coroutine per list run (a loop's
        body is one list run per item, in the one ``frame`` of :meth:`list_frame`).

        A bare task (``task.bare``: nothing around its own run) in a dialect that passes
        values through, with no extension, runs here, without :meth:`run_task` and
        :meth:`_started`: the same counts, notes, frame and outcome, without two coroutines
        and the checks that would all come out empty. A loop's body is usually such a task:
        an iteration of a ``for`` of one ``set`` costs ~8% fewer instructions
        (bench/loop_iteration.py measures where the rest goes).
        """
        entered = frame is None  # (else the loop that runs this list entered it)
        if frame is None:
            frame = Frame(tasks.pointer)
            self.frames.append(frame)
            self.lists.append(tasks)
        saved = self._resumed_list(tasks.pointer) if self.resume else None
        io, runs_bare = self.io, self._runs_bare
        try:
            index = 0
            declared = self._declared.get(id(tasks))  # run only when named (Zigflow)
            if declared is None:
                declared = self._declared[id(tasks)] = self.policy.declared(tasks)
            jumped = False
            if saved is not None:  # re-entered after a continue-as-new
                index, value, jumped = saved["index"], saved["value"], True
                for before in tasks.tasks[:index]:  # handlers the previous run had registered
                    if checked(before).rerun_on_resume():
                        await self.run_task(checked(before), value, scope)
            while index < len(tasks.tasks):
                if index in declared and not jumped:
                    index += 1
                    continue
                jumped = False
                task: Task = tasks.tasks[index]  # type: ignore[assignment]  # (checked below)
                if not _isinstance(task, Task):
                    checked(task)  # raises, naming the task
                pointer = task.pointer
                frame.at(index, pointer, value)
                if saved is not None and self.resume:  # deeper lists saved: this task was running
                    value, flow = await self._resume_task(task, saved, scope)
                elif task.bare and runs_bare:  # run_task and _started, less what is empty
                    self.runs += 1
                    paced = io.pace()
                    if paced or io.continue_as_new_due():
                        await self._pause(pointer, paced)
                    last = self.frames[-1]  # (not always frame: fork branches run at once)
                    if last.task_pointer == pointer:
                        last.task_input = value
                    info = {"name": task.name, "reference": pointer, "definition": task.definition}
                    info["input"] = value
                    args = {**scope, "task": info, "input": value, "output": None}
                    io.progress_note(pointer, "started")
                    try:
                        value, flow = await task.execute(self, value, args)
                    except WorkflowError as error:
                        self._failed(error, pointer)
                        raise
                    args["output"] = value
                    io.progress_note(pointer, "completed")
                else:
                    value, flow = await self.run_task(task, value, scope)
                saved = None
                if flow == "end":
                    return value, "end"
                if flow == "exit":
                    return value, None
                if flow is not None and flow != "continue":
                    target = tasks.index_of(flow)
                    if target <= index:
                        self.count_jump_back(task, flow)
                    index, jumped = target, True
                    continue
                index += 1
            return value, None
        finally:
            if entered:
                self.frames.pop()
                self.lists.pop()

    @contextmanager
    def list_frame(self, tasks: TaskList) -> Iterator[Frame]:
        """``tasks``' frame, entered for as long as a loop runs them: one frame for every
        run of a loop's body, not one a run (each run sets all of it as a task starts, so
        what a continue-as-new saves is the same). A ``for`` over 1,000 items of one
        ``set``: ~4% less CPU an iteration (bench/loop_iteration.py)."""
        frame = Frame(tasks.pointer)
        self.frames.append(frame)
        self.lists.append(tasks)
        try:
            yield frame
        finally:
            self.frames.pop()
            self.lists.pop()

    def _block_named(self, name: str) -> Task | None:
        """Zigflow: the ``do`` block a switch case names, in its own list, an enclosing
        one or the document's other workflows (None: a task of its list, jumped to)."""
        for tasks in reversed(self.lists):
            for task in tasks.tasks:
                if task.name == name and is_block(task):
                    return checked(task)
                if task.name == name and tasks is self.lists[-1]:
                    return None
        return next((checked(t) for t in self.workflow.blocks if t.name == name), None)

    async def run_task(self, task: Task, raw: Any, scope: dict[str, Any]) -> Outcome:
        pointer, io = task.pointer, self.io
        self.runs += 1
        paced = io.pace()
        if paced or io.continue_as_new_due():
            await self._pause(pointer, paced)
        task_info = {"name": task.name, "reference": pointer, "definition": task.definition}
        task_info["input"] = raw
        policy = self.policy
        if policy.passes_through:  # (the spec's: four calls less per task)
            args = {**scope, "task": task_info, "input": raw, "output": None}
        else:
            before = policy.before_task(task)
            if before:
                self.remember(before)
            args = {
                **scope,
                "task": task_info,
                "input": policy.input_var(raw, self.workflow_info["input"]),
                "output": policy.output_var(raw),
            }
        # The spec's order: ``if`` sees the raw input "before any other expression
        # of the task", then the raw input is validated, then ``input.from``.
        if task.condition is not None and not truthy(
            await self.eval_field(task.condition, raw, args, pointer + "/if")
        ):
            self.io.progress_note(pointer, "skipped")
            return raw, None
        if task.input_schema is not None:
            task.input_schema.validate(raw, what="the task input", instance=pointer)
        value = raw
        if task.input_from is not None:
            value = await self._eval_own(task.input_from, raw, args, pointer + "/input/from")
            args["input"] = policy.input_var(value, self.workflow_info["input"])
            task_info["input"] = value
        if self.frames and self.frames[-1].task_pointer == pointer:
            self.frames[-1].task_input = value
        return await self._started(task, value, args)

    async def _pause(self, pointer: str, paced: bool) -> None:
        """Before ``pointer`` starts, the rare pause: yield to Temporal when the Pacer said
        so (``paced``), then continue as new when it is due and the run can resume here."""
        if paced:
            await self.io.yield_to_temporal(pointer)
        if self.io.continue_as_new_due() and resumable(self.frames, pointer):
            await self.io.continue_as_new(self.state())

    def _failed(self, error: WorkflowError, pointer: str) -> None:
        """A task's run raised ``error``: it names the task (unless a deeper one did)."""
        if error.instance is None:
            error.instance = pointer
        self.io.progress_note(pointer, "failed")

    async def _started(self, task: Task, value: Any, args: dict[str, Any]) -> Outcome:
        """A task from its start on: ``execute``, then output and export."""
        pointer, policy = task.pointer, self.policy
        self.io.progress_note(pointer, "started")
        metadata: Any = task.definition.get("metadata")
        if _isinstance(metadata, dict) and not metadata.keys().isdisjoint(ANNOTATIONS):
            # search attributes and memo, evaluated as the task starts (dsl/metadata.py)
            spec = {key: metadata[key] for key in ANNOTATIONS if key in metadata}
            where = pointer + "/metadata"
            self.io.annotate(await self.eval_value(spec, value, args, where), where)
        try:
            if task.timeout is None:  # (no _with_timeout coroutine per task)
                output, flow = await self._execution(task, value, args)
            else:
                output, flow = await self._with_timeout(
                    self._execution(task, value, args), task.timeout, pointer
                )
        except WorkflowError as error:
            self._failed(error, pointer)
            raise
        if flow is not None and flow not in FLOW_DIRECTIVES and policy.body_jumps_run_blocks:
            # Zigflow: a switch case naming a do block runs it (Zigflow: as a child workflow
            # of that name) and the flow comes back to the task after the switch; the
            # block's output is the switch's, through its output.as and export.as.
            block = self._block_named(flow)
            if block is not None:
                output, flow = await self.run_task(block, value, scope_of(args))
                flow = "end" if flow == "end" else None
        if not policy.passes_through:
            recorded = policy.record(task, output)
            if recorded:
                self.remember(recorded)
        # ``.`` of output.as and export.as is the task's output, in every dialect.
        args["output"] = output
        if task.output_as is not None:
            output = await self._eval_own(task.output_as, output, args, pointer + "/output/as")
            args["output"] = output
        if task.output_schema is not None:
            task.output_schema.validate(output, what="the task output", instance=pointer)
        if task.export_as is not None:
            self.context = await self._eval_own(
                task.export_as, output, args, pointer + "/export/as"
            )
        if task.export_schema is not None:
            task.export_schema.validate(self.context, what="the exported context", instance=pointer)
        self.io.progress_note(pointer, "completed")
        if flow is None and task.then is not None:
            flow = task.then
        return output, flow

    # -- use.extensions (dsl/extensions.py, engine/extension_hooks.py) ----------

    def _execution(
        self, task: Task, value: Any, args: dict[str, Any]
    ) -> Coroutine[Any, Any, Outcome]:
        """The task's run: its own ``execute`` when no extension may apply (one coroutine
        less per task), else with the extensions that apply (engine/extension_hooks.py)."""
        if not self.workflow.extensions or IN_EXTENSION.get():
            return task.execute(self, value, args)
        return extended(self, task, value, args)

    # -- continue-as-new (engine/continuation.py) -------------------------------

    def state(self) -> dict[str, Any]:
        """Where the run stands, for the next run of its chain."""
        return {
            "frames": snapshot(self.frames),
            "context": self.context,
            "data": self.data,
            "runs": self.runs - 1,  # the task about to start runs again in the next run
            "jumpsBack": self.jumps_back,  # MAX_THEN_JUMPS counts over the whole chain
        }

    def resume_from(self, state: Mapping[str, Any]) -> None:
        """Take up a previous run's ``state`` (before :meth:`run`)."""
        self.context, self.data = state["context"], dict(state["data"])
        self.runs = int(state["runs"])
        self.jumps_back = int(state.get("jumpsBack", 0))
        self.resume = list(state["frames"])

    def _resumed_list(self, pointer: str) -> dict[str, Any]:
        """The next saved list of a continued run (only called while ``self.resume`` holds
        some), checked to be the one the definition runs here."""
        saved = self.resume.pop(0)
        if saved["list"] != pointer:
            raise WorkflowError.of(
                "runtime",
                f"cannot resume after continue-as-new: the saved position is in "
                f"{saved['list']}, the definition runs {pointer} (was the definition changed?)",
                instance=pointer,
            )
        return saved

    async def _resume_task(
        self, task: Task, saved: dict[str, Any], scope: dict[str, Any]
    ) -> Outcome:
        """Re-enter a container task that was running when the last run continued as new:
        its ``if`` and ``input.from`` ran then; its body resumes from its saved position."""
        raw, value = saved["value"], saved["taskInput"]
        self.positions[task.pointer] = saved["body"]
        self.frames[-1].task_input = value
        policy = self.policy
        task_info = {
            "name": task.name,
            "reference": task.pointer,
            "definition": task.definition,
            "input": value,
        }
        args = {
            **scope,
            "task": task_info,
            "input": policy.input_var(value, self.workflow_info["input"]),
            "output": policy.output_var(raw),
        }
        return await self._started(task, value, args)

    def save_point(self, pointer: str, position: Callable[[], Any]) -> None:
        frame = self.frames[-1] if self.frames else None
        if frame is not None and frame.task_pointer == pointer:
            frame.body = position

    def resume_point(self, pointer: str) -> Any:
        return self.positions.pop(pointer, None)

    def bindings(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._arguments(args)

    def remember(self, values: Mapping[str, Any]) -> None:
        # Never mutated in place: values are shared with task outputs.
        if self.keeps_data:
            self.data = {**self.data, **values}

    def bind_data(self, values: Mapping[str, Any]) -> Callable[[], None]:
        if not self.keeps_data:
            return _unbind_nothing
        data = self.data
        saved = {}
        for key in values:  # (not a comprehension: one call less, for each loop iteration)
            if key in data:
                saved[key] = data[key]
        self.data = {**data, **values}

        def unbind() -> None:
            # as {**{k: v for k, v in data.items() if k not in values}, **saved}: same order
            data = self.data.copy()
            for key in values:
                data.pop(key, None)
            data.update(saved)
            self.data = data

        return unbind

    def count_jump_back(self, task: Task, target: str) -> None:
        """An endless ``then`` cycle fails the run instead of looping until history overflows."""
        self.jumps_back += 1
        if self.jumps_back > self.max_then_jumps:
            raise WorkflowError.of(
                "runtime",
                f"more than MAX_THEN_JUMPS ({self.max_then_jumps}) jumps back in this run, the "
                f"last from '{task.name}' to '{target}': is there a 'then' cycle with no exit?",
                title="Too many then jumps",
                instance=task.pointer,
            )

    def _time_left(self, limit: timedelta | None) -> timedelta | None:
        """The workflow's ``timeout`` less what the runs before this one in its
        continue-as-new chain used: the limit is the chain's, not each run's."""
        if limit is None or not self.resume:
            return limit
        started = self.workflow_info.get("startedAt", {}).get("iso8601")
        if not started:
            return limit
        used = self.io.now() - datetime.fromisoformat(started).timestamp()
        return max(limit - timedelta(seconds=used), timedelta(0))

    async def _with_timeout(
        self,
        coro: Awaitable[Outcome],
        limit: timedelta | None,
        pointer: str,
        stated: timedelta | None = None,
    ) -> Outcome:
        """``coro`` within ``limit``; the error names ``stated`` (the definition's own
        figure) when ``limit`` is what is left of it."""
        if limit is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, limit.total_seconds())
        except TimeoutError:
            raise WorkflowError.of(
                "timeout",
                f"did not finish within {stated or limit}",
                title="Task timed out",
                instance=pointer or "/",
            ) from None
