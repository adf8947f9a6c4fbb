"""``call: activity``: call any Temporal activity that another worker serves (Zigflow's form).

```yaml
- fetchProfile:
    call: activity
    with:
      name: FetchProfile          # the activity type, as registered by its worker
      taskQueue: profiles         # where that worker polls
      arguments: [${ .userId }]   # positional arguments; ${ } evaluated per run
      options:                    # optional: activityOptions (dsl/metadata.py)
        startToCloseTimeout: {seconds: 30}
```

The arguments and the result go through this worker's data converter, so a
large one is offloaded by the claim check and only its reference enters
history; the serving worker reads and writes such references with the wire
format described in ``docs/wire-format.md`` (any language, no package of ours).
Options: ``with.options``, over the task's ``metadata.activityOptions``, over
the document's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workflow_runner.dsl.metadata import NO_OPTIONS, ActivityOptions, options_at
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import ActivityCall, Execution, Outcome, Task

WITH_PROPERTIES = frozenset({"name", "taskQueue", "arguments", "options"})


@dataclass(frozen=True)
class ExternalActivity:
    """What ``WorkflowIO.activity`` schedules for a ``call: activity`` (never serialized
    itself: its arguments are the activity's arguments, one payload each)."""

    task_queue: str
    arguments: list[Any] = field(default_factory=list)
    options: ActivityOptions = NO_OPTIONS


@dataclass(frozen=True, kw_only=True)
class CallActivityTask(Task):
    spec: Mapping[str, Any]  # call.with as written; ${ } evaluated per run
    options: ActivityOptions = NO_OPTIONS

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/with"
        spec = await run.eval_value(
            {k: v for k, v in self.spec.items() if k != "options"}, value, args, where
        )
        arguments = spec.get("arguments")
        arguments = [] if arguments is None else list(arguments)
        request = ExternalActivity(str(spec["taskQueue"]), arguments, self.options)
        result = await run.io.activity(
            ActivityCall(str(spec["name"]), request, self.timeout, self.pointer)
        )
        return result, None


def read(reader: DefinitionReader, node: TaskNode) -> CallActivityTask | None:
    spec = node.raw.get("with")
    with_pointer = node.at("with")
    if not isinstance(spec, dict):
        reader.problem(node.pointer, "call: activity needs 'with: {name, taskQueue}'")
        return None
    for key in spec:
        if key not in WITH_PROPERTIES:
            reader.problem(
                f"{with_pointer}/{key}",
                f"unknown activity property {key!r}; expected name, taskQueue, arguments, options",
            )
    for key in ("name", "taskQueue"):
        if not isinstance(spec.get(key), str) or not spec.get(key):
            reader.problem(
                f"{with_pointer}/{key}", f"call: activity needs '{key}' (a non-empty string)"
            )
    arguments = spec.get("arguments")
    if arguments is not None and not isinstance(arguments, list):
        reader.problem(f"{with_pointer}/arguments", "arguments must be a list (positional)")
    options = options_at(spec.get("options"), f"{with_pointer}/options", reader.problem)
    reader.expressions_in(
        with_pointer, {k: v for k, v in spec.items() if k != "options"}, node.scope
    )
    return CallActivityTask(**node.common, spec=spec, options=options)
