"""``for``: run a task list once per item of a collection.

What it iterates (a map as key/value pairs, Zigflow's number as a count) and
what it returns (the last iteration's output, or Zigflow's collected
iterations) is the dialect's data model (``run.policy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.expressions import truthy
from workflow_runner.dsl.model import Bindings, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType, scope_of


@dataclass(frozen=True, kw_only=True)
class ForTask(Task):
    collection: Any  # for.in
    each: str = "item"
    at: str = "index"
    condition_while: Any = None
    tasks: TaskList

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/for/in"
        saved = run.resume_point(self.pointer)  # where it was when the last run continued as new
        if saved is None:
            collection = await run.eval_field(self.collection, value, args, where)
            items, by_key = run.policy.for_items(collection, where)
            start, output, keys, outputs = 0, value, [], []
            outer_context = run.context
        else:
            items = [(at, item) for at, item in saved["items"]]
            by_key, start, output = saved["byKey"], saved["at"], saved["output"]
            keys, outputs = saved["keys"], saved["outputs"]
            outer_context = saved.get("outerContext")
        # The spec's for returns the last output: only a collecting dialect carries the others.
        collects = run.policy.for_output([0], [True], False, None) is not None
        escapes = run.policy.loop_context_escapes  # Zigflow: exports stay in the loop
        passes_through = run.policy.passes_through  # (no iteration_done: the spec's)
        position = start

        def where_it_is() -> dict[str, Any]:  # read only if the run continues as new inside
            return {
                "items": items,
                "byKey": by_key,
                "at": position,
                "output": output,
                "keys": keys if collects else [],
                "outputs": outputs if collects else [],
                "outerContext": None if escapes else outer_context,
            }

        run.save_point(self.pointer, where_it_is)
        inherited = scope_of(args)  # (args do not change while the loop runs)
        try:
            with run.list_frame(self.tasks) as frame:
                for position in range(start, len(items)):
                    index, item = items[position]
                    loop_vars = {self.each: item, self.at: index}
                    scope = {**inherited, **loop_vars}
                    unbind = run.bind_data(loop_vars)
                    try:
                        if self.condition_while is not None and not (saved and position == start):
                            # $output in while: the previous iteration's output in Zigflow (null
                            # before the first), as the dialect binds it; the spec's is null
                            previous = output if position > 0 else None
                            keep_going = await run.eval_field(
                                self.condition_while,
                                output,
                                {**args, **loop_vars, "output": run.policy.output_var(previous)},
                                self.pointer + "/while",
                            )
                            if not truthy(keep_going):
                                break
                        output, flow = await run.run_list(self.tasks, output, scope, frame)
                    finally:
                        unbind()
                    if collects:  # else they would all stay alive until the loop ends
                        keys.append(index)
                        outputs.append(output)
                    if not passes_through:
                        done = run.policy.iteration_done(self, output)
                        if done:
                            run.remember(done)
                    if flow == "end":
                        return output, "end"
            return run.policy.for_output(keys, outputs, by_key, output), None
        finally:
            if not escapes:
                run.context = outer_context


def read(reader: DefinitionReader, node: TaskNode) -> ForTask | None:
    spec = node.raw["for"]
    base = node.at("for")
    if not isinstance(spec, dict) or "in" not in spec:
        reader.problem(base, "for needs 'in' (the collection) and optionally 'each' and 'at'")
        return None
    for key in spec:
        if key not in ("each", "in", "at"):
            reader.problem(f"{base}/{key}", f"unknown for property {key!r}")
    reader.expression(f"{base}/in", spec["in"], node.scope, bare=True)
    each, at = str(spec.get("each", "item")), str(spec.get("at", "index"))
    inner = (*node.scope, each, at)
    if "while" in node.raw:
        reader.expression(node.at("while"), node.raw["while"], inner, bare=True)
    if "do" not in node.raw:
        reader.problem(node.pointer, "a for task needs 'do': the tasks to run for each item")
        return None
    tasks = reader.do_list(node.at("do"), node.raw["do"], inner)
    if tasks is None:
        return None
    return ForTask(
        **node.common,
        collection=spec["in"],
        each=each,
        at=at,
        condition_while=node.raw.get("while"),
        tasks=tasks,
    )


TYPE: TaskType = TaskType("for", frozenset({"for", "while", "do"}), read)
