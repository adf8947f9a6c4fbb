"""The listeners a ``listen`` task waits with: what runs while it waits.

:class:`SpecListener` consumes CloudEvents as the spec form says (filters,
correlation, ``one``/``any``/``all``, ``until``, ``foreach``);
:class:`TemporalListener` answers Zigflow's form (Temporal signals consumed
from the buffer, queries and updates answered by handlers registered for the
listen). The rules each follows are described in ``engine/tasks/listen.py``,
which holds the task's model and reading and hands a listener to
``run.io.listen``.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import (
    BOUNDED_INPUT_BYTES,
    DEFAULT_BUDGET,
    evaluate,
    evaluate_field,
    evaluate_value,
    is_expression,
    json_size,
    truthy,
)
from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.engine.events import (
    Handlers,
    UpdateHandler,
    read_event,
    same,
    same_or_pattern,
)
from workflow_runner.engine.tasks.base import Execution, scope_of

if TYPE_CHECKING:
    from workflow_runner.engine.tasks.listen import (
        EventFilter,
        Foreach,
        ListenTask,
        Strategy,
        TemporalFilter,
    )

# No value: a correlation written without ``expect`` (the model's default,
# engine/tasks/listen.py), or one no event has given yet.
_MISSING = object()


async def _eval(run: Execution, expr: Any, dot: Any, args: Bindings, where: str) -> Any:
    """An expression of the listen with ``.`` = ``dot`` in every dialect (an event, its
    attribute, a payload): ``run.eval_field`` would make ``.`` Zigflow's ``$data``."""
    return await evaluate_field(expr, dot, run.bindings(args), run.evaluate, where)


# -- the spec form ----------------------------------------------------------------


class _Matcher:
    """Filter matching for one listen: its expressions and its correlation values."""

    def __init__(self, run: Execution, value: Any, args: Bindings) -> None:
        self.run, self.value, self.args = run, value, args
        self.correlations: dict[str, Any] = {}

    async def prepare(self, strategy: Strategy) -> None:
        """Correlations with an ``expect`` are known before any event arrives."""
        for event_filter in strategy.filters:
            for correlation in event_filter.correlate:
                if correlation.expect is not _MISSING:
                    where = f"{event_filter.pointer}/correlate/{correlation.name}/expect"
                    self.correlations[correlation.name] = await self.run.eval_value(
                        correlation.expect, self.value, self.args, where
                    )
        if strategy.until is not None:
            await self.prepare(strategy.until)

    async def matches(self, event_filter: EventFilter, event: JsonObject) -> bool:
        for name, wanted in event_filter.attributes.items():
            if name == "data":
                if "data" not in event and "data_base64" not in event:
                    return False
                actual = read_event(event, "data")
            elif name in event:
                actual = event[name]
            else:
                return False
            where = f"{event_filter.pointer}/with/{name}"
            if not await self._attribute(wanted, actual, where, pattern=name != "data"):
                return False
        found: dict[str, Any] = {}
        for correlation in event_filter.correlate:
            where = f"{event_filter.pointer}/correlate/{correlation.name}/from"
            got = await _eval(self.run, correlation.source, event, self.args, where)
            expected = self.correlations.get(correlation.name, _MISSING)
            if expected is _MISSING:
                expected = found.setdefault(correlation.name, got)
            if got != expected:
                return False
        self.correlations.update(found)
        return True

    async def _attribute(self, wanted: Any, actual: Any, where: str, *, pattern: bool) -> bool:
        if is_expression(wanted):
            result = await _eval(self.run, wanted, actual, self.args, where)
            return result if isinstance(result, bool) else same(result, actual)
        if isinstance(wanted, dict):
            if not isinstance(actual, dict):
                return False
            for key, item in wanted.items():
                if key not in actual or not await self._attribute(
                    item, actual[key], f"{where}/{key}", pattern=False
                ):
                    return False
            return True
        return same_or_pattern(wanted, actual) if pattern else same(wanted, actual)


class _Consumption:
    """How far one strategy got: which filters consumed an event."""

    def __init__(self, strategy: Strategy, matcher: _Matcher) -> None:
        self.strategy, self.matcher = strategy, matcher
        self.taken = [False] * len(strategy.filters)
        self.count = 0

    async def take(self, event: JsonObject) -> bool:
        if self.strategy.kind == "any" and not self.strategy.filters:
            self.count += 1
            return True
        for index, event_filter in enumerate(self.strategy.filters):
            if self.strategy.kind != "any" and self.taken[index]:
                continue
            if await self.matcher.matches(event_filter, event):
                self.taken[index] = True
                self.count += 1
                return True
        return False

    def complete(self) -> bool:
        return self.count > 0 if self.strategy.kind == "any" else all(self.taken)


class SpecListener:
    """A spec ``listen``: consumes events, runs ``foreach`` per event, decides ``until``."""

    def __init__(
        self, task: ListenTask, strategy: Strategy, run: Execution, value: Any, args: Bindings
    ) -> None:
        self.task, self.strategy, self.run, self.value, self.args = task, strategy, run, value, args
        self.matcher = _Matcher(run, value, args)
        self.main = _Consumption(strategy, self.matcher)
        self.until = None if strategy.until is None else _Consumption(strategy.until, self.matcher)
        self.items: list[Any] = []
        self.outputs: list[Any] = []
        self.handlers = Handlers()
        self._done = False

    async def prepare(self) -> None:
        await self.matcher.prepare(self.strategy)

    def done(self) -> bool:
        return self._done

    async def offer(self, event: JsonObject) -> bool:
        if self.until is not None and await self.until.take(event):
            self._done = self.until.complete()
            return True
        if not await self.main.take(event):
            return False
        item = read_event(event, self.task.read_mode)
        self.items.append(item)
        if self.task.foreach is not None:
            self.outputs.append(await self._each(self.task.foreach, item, len(self.items) - 1))
        if self.strategy.until_expression is not None:
            where = self.strategy.pointer + "/until"
            until = await _eval(
                self.run, self.strategy.until_expression, self.items, self.args, where
            )
            self._done = truthy(until)
        elif self.until is None:
            self._done = self.main.complete()
        return True

    async def _each(self, foreach: Foreach, item: Any, index: int) -> Any:
        loop_vars = {foreach.item: item, foreach.at: index}
        unbind = self.run.bind_data(loop_vars)
        try:
            output = item
            if foreach.tasks is not None:
                output, _ = await self.run.run_list(
                    foreach.tasks, item, {**scope_of(self.args), **loop_vars}
                )
            if foreach.output_as is not None:
                output = await _eval(
                    self.run,
                    foreach.output_as,
                    output,
                    {**self.args, **loop_vars, "output": output},
                    foreach.pointer + "/output/as",
                )
            where = f"{foreach.pointer}/output"
            if foreach.output_schema is not None:
                foreach.output_schema.validate(output, what="the item's output", instance=where)
            if foreach.export_as is not None:
                self.run.context = await _eval(
                    self.run,
                    foreach.export_as,
                    output,
                    {**self.args, **loop_vars, "output": output},
                    foreach.pointer + "/export/as",
                )
            if foreach.export_schema is not None:
                where = f"{foreach.pointer}/export"
                foreach.export_schema.validate(
                    self.run.context, what="the exported context", instance=where
                )
            return output
        finally:
            unbind()

    def output(self) -> list[Any]:
        return self.outputs if self.task.foreach is not None else self.items


# -- Zigflow's form: Temporal signals, queries and updates ------------------------------


def evaluate_now(expr: Any, value: Any, bindings: Bindings, now: float, where: str) -> Any:
    """Evaluate ``expr`` deeply, synchronously and without touching the run's state.

    For query handlers and update validators: Temporal calls them outside the
    workflow's own flow, so they must not suspend, schedule anything or count
    work (that would make a replay take a different path). Inputs are small
    here, so jq runs inline with the inline budget.
    """

    async def one(body: str, data: Any, args: Mapping[str, Any], at: str) -> Any:
        small = json_size([data, args], BOUNDED_INPUT_BYTES + 1) <= BOUNDED_INPUT_BYTES
        return evaluate(
            body, data, args, now=now, where=at, budget=DEFAULT_BUDGET.inline(), in_process=small
        )

    return _run_now(evaluate_value(expr, value, bindings, one, where))


def _run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("an evaluation that must be synchronous suspended")


def _accepted(result: Any) -> bool:
    """Zigflow's rule: only ``true`` accepts (``getAcceptIf`` reads a bool)."""
    return result is True


class TemporalListener:
    """Zigflow's listen: Temporal signals consumed from the buffer, queries and updates
    answered by handlers registered for the listen."""

    def __init__(self, task: ListenTask, run: Execution, value: Any, args: Bindings) -> None:
        self.task, self.run, self.value, self.args = task, run, value, args
        self.received: dict[int, Any] = {}
        self.blocking = [i for i, f in enumerate(task.temporal) if f.kind != "query"]
        self.handlers = Handlers(
            queries={f.name: self._query(f) for f in task.temporal if f.kind == "query"},
            updates={
                f.name: UpdateHandler(self._update(i, f), self._validator(f))
                for i, f in enumerate(task.temporal)
                if f.kind == "update"
            },
        )

    def done(self) -> bool:
        if not self.blocking:
            return True
        if self.task.temporal_kind == "any":
            return any(i in self.received for i in self.blocking)
        return all(i in self.received for i in self.blocking)

    def output(self) -> Any:
        if not self.blocking:
            return self.value
        if self.task.temporal_kind == "all":
            return [self.received.get(i) for i in self.blocking]
        return next(self.received[i] for i in self.blocking if i in self.received)

    def _bindings_with(self, key: str, payload: Any) -> Bindings:
        """The task's bindings with ``$data.<key>`` = ``payload`` (what ``acceptIf`` sees)."""
        bindings = self.run.bindings(self.args)
        data = bindings.get("data")
        return {**bindings, "data": {**(data if isinstance(data, dict) else {}), key: payload}}

    async def offer(self, event: JsonObject) -> bool:
        if event.get("type") != "signal":
            return False
        for index, wanted in enumerate(self.task.temporal):
            if wanted.kind != "signal" or event.get("id") != wanted.name:
                continue
            if index in self.received:
                continue
            payload = event.get("data")
            if wanted.accept_if is not None:
                args = {**self.args, "data": self._bindings_with(self.task.name, payload)["data"]}
                where = wanted.pointer + "/with/acceptIf"
                if not _accepted(await _eval(self.run, wanted.accept_if, payload, args, where)):
                    return True  # consumed and refused, as Zigflow's channel receive does
            self.run.remember({self.task.name: payload})
            self.received[index] = payload
            return True
        return False

    def _query(self, wanted: TemporalFilter) -> Any:
        def answer(*_args: Any) -> Any:
            bindings = self.run.bindings(self.args)
            where = wanted.pointer + "/with/data"
            dot = self.run.policy.dot(self.value, bindings.get("data") or {})
            return evaluate_now(wanted.reply, dot, bindings, self.run.io.now(), where)

        return answer

    def _validator(self, wanted: TemporalFilter) -> Any:
        def validate(payload: Any = None) -> None:
            # Only the worker gets here: reading a definition must not import temporalio.
            from temporalio.exceptions import ApplicationError

            if wanted.accept_if is None:
                return
            where = wanted.pointer + "/with/acceptIf"
            bindings = self._bindings_with(wanted.name, payload)
            try:
                result = evaluate_now(wanted.accept_if, payload, bindings, self.run.io.now(), where)
            except WorkflowError as error:
                raise ApplicationError(
                    f"update {wanted.name!r} rejected: {error}", type="UpdateRejected"
                ) from None
            if not _accepted(result):
                raise ApplicationError(
                    f"update {wanted.name!r} rejected by acceptIf of {self.task.pointer} "
                    f"({wanted.accept_if}): it gave {result!r}",
                    type="UpdateRejected",
                )

        return validate

    def _update(self, index: int, wanted: TemporalFilter) -> Any:
        async def handle(payload: Any = None) -> Any:
            self.run.remember({wanted.name: payload})
            reply = None
            if wanted.reply is not None:
                reply = await self.run.eval_value(
                    wanted.reply, self.value, self.args, wanted.pointer + "/with/data"
                )
            self.received[index] = payload
            return reply

        return handle
