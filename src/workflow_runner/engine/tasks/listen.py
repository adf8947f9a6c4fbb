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
  and ``foreach.output.as`` made of each, run one event at a time, in order;
  ``foreach.export.as`` sets ``$context`` from each item's output, as a task's
  ``export.as`` does, and both ``schema``s are checked per item.

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

This module is the task as written: its model and how it is read. What runs
while it waits (matching events, answering signals, queries and updates) is
in ``engine/tasks/listen_listeners.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.dialect import SPEC
from workflow_runner.dsl.model import Bindings, JsonObject, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.dsl.schemas import DataSchema
from workflow_runner.engine.events import READ_MODES
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType
from workflow_runner.engine.tasks.listen_listeners import _MISSING, SpecListener, TemporalListener

STRATEGIES = ("one", "any", "all")
TEMPORAL_KINDS = ("signal", "query", "update")


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
    output_schema: DataSchema | None = None
    export_as: Any = None  # $context after each item, from the item's output
    export_schema: DataSchema | None = None


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
            self.problem(pointer, "foreach must be {item, at, do, output, export}")
            return None
        for key in raw:
            if key not in ("item", "at", "do", "output", "export"):
                self.problem(f"{pointer}/{key}", f"unknown foreach property {key!r}")
        item, at = str(raw.get("item", "item")), str(raw.get("at", "index"))
        inner = (*self.scope, item, at)
        tasks = None
        if "do" in raw:
            tasks = self.reader.do_list(f"{pointer}/do", raw["do"], inner)
        output_as, output_schema = self._shaped(raw, "output", inner)
        export_as, export_schema = self._shaped(raw, "export", inner)
        return Foreach(item, at, tasks, output_as, pointer, output_schema, export_as, export_schema)

    def _shaped(
        self, raw: dict[str, Any], part: str, scope: tuple[str, ...]
    ) -> tuple[Any, DataSchema | None]:
        """foreach's ``output`` or ``export``: its ``as`` expression and its ``schema``."""
        spec = raw.get(part)
        if spec is None:
            return None, None
        where = f"{self.node.at('foreach')}/{part}"
        return (
            self.reader.io_spec(where, spec, ("as", "schema"), scope),
            self.reader.io_schema(where, spec),
        )

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
