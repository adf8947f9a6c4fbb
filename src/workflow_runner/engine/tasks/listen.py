"""``listen``: wait for CloudEvents (spec form) or answer Temporal signals, queries and
updates (Zigflow's form).

Spec form (``dsl-reference.md`` "Listen", "Event Consumption Strategy",
"Event Filter", "Correlation", "Subscription Iterator"):

- ``to.one`` / ``to.all``: every filter consumes one event; ``to.any``: the
  first matching event ends the listen, unless ``until`` is set: then events
  are consumed until the ``until`` expression (``.`` = the events read so
  far) is true, or until the ``until`` strategy's own events arrived (those
  are not part of the output). ``any: []`` matches every event. ``until``
  applies to ``any`` only (the spec ignores it elsewhere; we refuse it so it
  is not silently ignored).
- A filter's ``with`` lists attributes an event must have: a plain value is
  equal (objects as subsets), or for a context attribute also a regular
  expression it fully matches; a runtime expression is evaluated with ``.``
  = the event's attribute (``data: ${ .temperature > 38 }``) and matches when
  it is ``true``, or when it is not a boolean and equals the attribute.
- ``correlate: {name: {from, expect}}``: ``from`` is evaluated with ``.`` =
  the event; ``expect`` (a constant, or an expression over the task input,
  evaluated when the listen starts) is what it must equal; without
  ``expect`` the first consumed event's value becomes the expectation for
  every later event of the listen (same name across filters = same value).
- The output is the array of consumed events, each read as ``read`` says
  (``data``, the default; ``envelope``; ``raw``), or with ``foreach`` the
  array of what ``foreach.do`` (``.`` = the event, ``$item`` / ``$index``)
  and ``foreach.output.as`` made of each, run one event at a time, in order.

Zigflow form (every filter is ``with: {type: signal|query|update, id: NAME}``,
``pkg/zigflow/tasks/task_builder_listen.go``): ``query`` registers a Temporal
query NAME answering ``with.data`` evaluated at query time (the listen does
not block); ``signal`` waits for signal NAME whose ``acceptIf`` (evaluated
with ``$data.<task name>`` = the payload) is ``true``; ``update`` registers
update NAME while the listen waits, its validator runs ``acceptIf`` (with
``$data.<id>`` = the argument) so a rejected update reaches the caller as a
rejection and never enters history, and an accepted one returns ``with.data``.
Accepted payloads are kept in ``$data`` (signal: under the task name, update:
under its id). The output is the payload (``one``/``any``), or the list of
payloads (``all``); a listen of queries only passes its input through.
``metadata.timeout`` (a Go duration, ``10s``) bounds the wait; without it the
dialect's default applies (Zigflow: 60 s, spec: none). Past it the run fails
with the spec ``timeout`` error naming the listen (a ``catch`` can take it).
"""

from __future__ import annotations

import re
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.dialect import SPEC
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
from workflow_runner.dsl.model import Bindings, JsonObject, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.events import (
    READ_MODES,
    Handlers,
    UpdateHandler,
    read_event,
    same,
    same_or_pattern,
)
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType, scope_of

STRATEGIES = ("one", "any", "all")
TEMPORAL_KINDS = ("signal", "query", "update")
_MISSING = object()


# -- the model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    name: str
    source: Any  # correlate.<name>.from: jq over the event
    expect: Any = _MISSING  # a constant or ${ } over the task input


@dataclass(frozen=True)
class EventFilter:
    attributes: Mapping[str, Any]  # with
    correlate: tuple[Correlation, ...]
    pointer: str


@dataclass(frozen=True)
class Strategy:
    kind: str  # one | any | all
    filters: tuple[EventFilter, ...]
    pointer: str
    until_expression: Any = None
    until: Strategy | None = None


@dataclass(frozen=True)
class Foreach:
    item: str = "item"
    at: str = "index"
    tasks: TaskList | None = None
    output_as: Any = None
    pointer: str = ""


@dataclass(frozen=True)
class TemporalFilter:
    kind: str  # signal | query | update
    name: str  # the Temporal signal / query / update name (with.id)
    accept_if: Any = None
    reply: Any = None  # with.data: the query's answer, the update's result
    pointer: str = ""


@dataclass(frozen=True, kw_only=True)
class ListenTask(Task):
    strategy: Strategy | None = None  # the spec form
    temporal: tuple[TemporalFilter, ...] = ()  # Zigflow's form
    temporal_kind: str = "one"
    read_mode: str = "data"
    foreach: Foreach | None = None
    wait_limit: timedelta | None = None  # metadata.timeout, or the dialect's default

    def rerun_on_resume(self) -> bool:
        """A listen of queries only (it registers handlers and does not wait) registers
        them again on a continued run, as Zigflow does."""
        return bool(self.temporal) and all(f.kind == "query" for f in self.temporal)

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        if self.strategy is None:
            temporal = TemporalListener(self, run, value, args)
            await run.io.listen(temporal, self.wait_limit, self.pointer)
            return temporal.output(), None
        listener = SpecListener(self, self.strategy, run, value, args)
        await listener.prepare()
        await run.io.listen(listener, self.wait_limit, self.pointer)
        return listener.output(), None


async def _eval(run: Execution, expr: Any, dot: Any, args: Bindings, where: str) -> Any:
    """An expression of the listen with ``.`` = ``dot`` in every dialect (an event, its
    attribute, a payload): ``run.eval_field`` would make ``.`` Zigflow's ``$data``."""
    return await evaluate_field(expr, dot, run.bindings(args), run.io.evaluate, where)


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


# -- reading ------------------------------------------------------------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> timedelta:
    """Go's ``time.ParseDuration`` (what Zigflow reads ``metadata.timeout`` with): ``1m30s``."""
    if not text or _GO_DURATION.sub("", text) != "":
        raise ValueError(f"{text!r} is not a duration such as 10s, 1m30s or 500ms")
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(text))
    return timedelta(seconds=seconds)


@dataclass
class _Reading:
    reader: DefinitionReader
    node: TaskNode
    scope: tuple[str, ...]
    temporal: list[TemporalFilter] = field(default_factory=list)

    def problem(self, pointer: str, message: str) -> None:
        self.reader.problem(pointer, message)

    def filter(self, pointer: str, raw: Any) -> EventFilter | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("with"), dict) or not raw["with"]:
            self.problem(pointer, "an event filter needs 'with': the attributes to match")
            return None
        for key in raw:
            if key not in ("with", "correlate"):
                self.problem(f"{pointer}/{key}", f"unknown event filter property {key!r}")
        self.reader.expressions_in(f"{pointer}/with", raw["with"], self.scope)
        correlations: list[Correlation] = []
        correlate = raw.get("correlate", {})
        if not isinstance(correlate, dict):
            self.problem(f"{pointer}/correlate", "correlate must map names to {from, expect}")
            correlate = {}
        for name, spec in correlate.items():
            at = f"{pointer}/correlate/{name}"
            if not isinstance(spec, dict) or not isinstance(spec.get("from"), str):
                self.problem(at, "a correlation needs 'from': a runtime expression")
                continue
            for key in spec:
                if key not in ("from", "expect"):
                    self.problem(f"{at}/{key}", f"unknown correlation property {key!r}")
            self.reader.expression(f"{at}/from", spec["from"], self.scope, bare=True)
            self.reader.expressions_in(f"{at}/expect", spec.get("expect"), self.scope)
            correlations.append(Correlation(str(name), spec["from"], spec.get("expect", _MISSING)))
        return EventFilter(raw["with"], tuple(correlations), pointer)

    def strategy(self, pointer: str, raw: Any, *, nested: bool) -> Strategy | None:
        if not isinstance(raw, dict):
            self.problem(pointer, "listen.to needs one of one, any or all")
            return None
        kinds = [k for k in STRATEGIES if k in raw]
        if len(kinds) != 1:
            self.problem(pointer, "listen.to needs exactly one of one, any or all")
            return None
        kind = kinds[0]
        for key in raw:
            if key not in (*STRATEGIES, "until"):
                self.problem(f"{pointer}/{key}", f"unknown listen.to property {key!r}")
        filters: list[EventFilter] = []
        if kind == "one":
            one = self.filter(f"{pointer}/one", raw["one"])
            filters = [one] if one is not None else []
        else:
            listed = raw[kind] if raw[kind] is not None else []
            if not isinstance(listed, list) or (kind == "all" and not listed):
                self.problem(f"{pointer}/{kind}", f"listen.to.{kind} must be a list of filters")
                return None
            for index, item in enumerate(listed):
                found = self.filter(f"{pointer}/{kind}/{index}", item)
                if found is not None:
                    filters.append(found)
        until_expression, until = None, None
        if "until" in raw:
            at = f"{pointer}/until"
            if kind != "any":
                self.problem(at, f"until applies to 'any' only, not to '{kind}'")
            elif nested:
                self.problem(at, "an until strategy cannot have an until of its own")
            elif isinstance(raw["until"], str | bool):
                until_expression = raw["until"]
                self.reader.expression(at, until_expression, self.scope, bare=True)
            else:
                until = self.strategy(at, raw["until"], nested=True)
        return Strategy(kind, tuple(filters), pointer, until_expression, until)

    def temporal_filters(self, pointer: str, raw: Any) -> tuple[str, list[Any]] | None:
        """(kind, filters) when every filter is Zigflow's ``type: signal|query|update``."""
        if not isinstance(raw, dict):
            return None
        kinds = [k for k in STRATEGIES if k in raw]
        if len(kinds) != 1:
            return None
        listed = [raw["one"]] if kinds[0] == "one" else raw[kinds[0]]
        if not isinstance(listed, list) or not listed:
            return None
        marked = [
            isinstance(f, dict)
            and isinstance(f.get("with"), dict)
            and f["with"].get("type") in TEMPORAL_KINDS
            and "id" in f["with"]
            for f in listed
        ]
        if not any(marked):
            return None
        if not all(marked):
            self.problem(
                pointer,
                "listen mixes Temporal listeners (with: {type: signal|query|update, id}) "
                "and CloudEvent filters; that is not supported yet: use two listen tasks",
            )
            return None
        return kinds[0], listed

    def temporal_filter(self, pointer: str, raw: JsonObject) -> TemporalFilter:
        spec = raw["with"]
        at = f"{pointer}/with"
        for key in raw:
            if key != "with":
                self.problem(f"{pointer}/{key}", f"{key!r} is not supported on a Temporal listener")
        if not isinstance(spec["id"], str) or not spec["id"]:
            self.problem(f"{at}/id", "id must name the Temporal signal, query or update")
        kind = spec["type"]
        if kind == "query" and "acceptIf" in spec:
            self.problem(f"{at}/acceptIf", "acceptIf applies to signals and updates, not queries")
        if kind == "signal" and "data" in spec:
            self.problem(f"{at}/data", "a signal has no reply: data applies to queries and updates")
        accept_if = spec.get("acceptIf")
        if accept_if is not None:
            self.reader.expression(f"{at}/acceptIf", accept_if, self.scope, bare=True)
        self.reader.expressions_in(f"{at}/data", spec.get("data"), self.scope)
        return TemporalFilter(kind, str(spec["id"]), accept_if, spec.get("data"), pointer)

    def foreach(self, raw: Any) -> Foreach | None:
        pointer = self.node.at("foreach")
        if not isinstance(raw, dict):
            self.problem(pointer, "foreach must be {item, at, do, output}")
            return None
        for key in raw:
            if key == "export":
                self.problem(f"{pointer}/export", "listen.foreach.export is not supported yet")
            elif key not in ("item", "at", "do", "output"):
                self.problem(f"{pointer}/{key}", f"unknown foreach property {key!r}")
        item, at = str(raw.get("item", "item")), str(raw.get("at", "index"))
        inner = (*self.scope, item, at)
        tasks = None
        if "do" in raw:
            tasks = self.reader.do_list(f"{pointer}/do", raw["do"], inner)
        output_as = None
        output = raw.get("output")
        if output is not None:
            if not isinstance(output, dict) or set(output) - {"as"}:
                self.problem(f"{pointer}/output", "foreach.output supports 'as' only")
            else:
                output_as = output.get("as")
                self.reader.expression(f"{pointer}/output/as", output_as, inner, bare=True)
        return Foreach(item, at, tasks, output_as, pointer)

    def wait_limit(self, zigflow_form: bool) -> timedelta | None:
        metadata = self.node.raw.get("metadata")
        given = metadata.get("timeout") if isinstance(metadata, dict) else None
        if given is not None and (zigflow_form or self.reader.dialect.name != SPEC):
            try:
                if not isinstance(given, str):
                    raise ValueError("metadata.timeout must be a string such as '10s'")
                return parse_go_duration(given)
            except ValueError as e:
                self.problem(self.node.at("metadata", "timeout"), str(e))
                return None
        if self.node.common.get("timeout") is not None:
            return None  # the task's own timeout bounds the listen
        return self.reader.dialect.listen_timeout


def read(reader: DefinitionReader, node: TaskNode) -> ListenTask | None:
    spec = node.raw["listen"]
    base = node.at("listen")
    to = spec.get("to") if isinstance(spec, dict) else None
    if not isinstance(to, dict) or not (set(STRATEGIES) & set(to)):
        reader.problem(base, "listen needs 'to' with one, any or all")
        return None
    reading = _Reading(reader, node, node.scope)
    for key in spec:
        if key not in ("to", "read"):
            reader.problem(f"{base}/{key}", f"unknown listen property {key!r}")
    read_mode = spec.get("read", "data")
    if read_mode not in READ_MODES:
        reader.problem(f"{base}/read", "listen.read must be data, envelope or raw")
    temporal = reading.temporal_filters(f"{base}/to", to)
    if temporal is not None:
        kind, listed = temporal
        for key in ("until", "read"):
            where = spec if key == "read" else to
            if key in where:
                reader.problem(
                    f"{base}/{'read' if key == 'read' else 'to/until'}",
                    f"{key} does not apply to Temporal listeners (type: signal|query|update)",
                )
        if "foreach" in node.raw:
            reader.problem(node.at("foreach"), "foreach does not apply to Temporal listeners")
        prefix = f"{base}/to/one" if kind == "one" else f"{base}/to/{kind}"
        filters = [
            reading.temporal_filter(prefix if kind == "one" else f"{prefix}/{i}", f)
            for i, f in enumerate(listed)
        ]
        return ListenTask(
            **node.common,
            temporal=tuple(filters),
            temporal_kind=kind,
            wait_limit=reading.wait_limit(True),
        )
    strategy = reading.strategy(f"{base}/to", to, nested=False)
    foreach = reading.foreach(node.raw["foreach"]) if "foreach" in node.raw else None
    if strategy is None:
        return None
    return ListenTask(
        **node.common,
        strategy=strategy,
        read_mode=str(read_mode),
        foreach=foreach,
        wait_limit=reading.wait_limit(False),
    )


TYPE: TaskType = TaskType("listen", frozenset({"listen", "foreach"}), read)
