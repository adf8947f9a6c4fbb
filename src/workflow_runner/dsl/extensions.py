"""``use.extensions``: task lists run around every task of a type (the spec's ``extend``).

What this runner decides where the spec is silent:

- ``before`` runs with the extended task's input; if it ends with ``then: exit``
  the task is skipped and the ``before`` output is the task's output (the spec's
  mocking example); otherwise its output is discarded and the task runs with its
  own input, as a logging extension expects.
- ``after`` runs with the task's output; its output is discarded.
- Tasks inside an extension are never extended themselves (no recursion);
  ``extend: extension`` is refused as not supported yet.
- In ``when``, ``$task`` is the task descriptor with the task's own definition
  merged in, so both ``$task.definition.call`` and the spec example's
  ``$task.call`` / ``$task.with.endpoint`` read the same property.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.model import TaskList

if TYPE_CHECKING:
    from workflow_runner.dsl.reader import DefinitionReader

# The spec's values of ``extend`` (``composite`` is a ``do`` task).
EXTENDABLE = frozenset(
    {"call", "composite", "emit", "for", "fork", "listen", "raise", "run", "set", "switch"}
    | {"try", "wait", "all"}
)
PROPERTIES = frozenset({"extend", "when", "before", "after"})


@dataclass(frozen=True)
class Extension:
    name: str
    extend: str  # a task type's key ("do" for composite) or "all"
    when: Any = None
    before: TaskList | None = None
    after: TaskList | None = None

    def extends(self, kind: str) -> bool:
        return self.extend in ("all", kind)


def read_extensions(reader: DefinitionReader, value: Any) -> tuple[Extension, ...]:
    pointer = "/use/extensions"
    if not isinstance(value, list):
        reader.problem(pointer, "use.extensions must be a list of '- name: {extend: ...}'")
        return ()
    out: list[Extension] = []
    for index, item in enumerate(value):
        at = f"{pointer}/{index}"
        if not isinstance(item, dict) or len(item) != 1:
            reader.problem(at, "each extension must be a mapping of one name to its definition")
            continue
        ((name, spec),) = item.items()
        at = f"{at}/{name}"
        if not isinstance(spec, dict):
            reader.problem(at, "an extension needs 'extend' and 'before' and/or 'after'")
            continue
        for key in spec:
            if key not in PROPERTIES:
                reader.problem(f"{at}/{key}", f"unknown extension property {key!r}")
        extend = spec.get("extend")
        if extend == "extension":
            reader.problem(f"{at}/extend", "'extend: extension' is not supported yet")
            continue
        if extend not in EXTENDABLE:
            reader.problem(f"{at}/extend", f"extend must be one of {', '.join(sorted(EXTENDABLE))}")
            continue
        if "before" not in spec and "after" not in spec:
            reader.problem(at, "an extension needs 'before' and/or 'after'")
            continue
        if "when" in spec:
            reader.expression(f"{at}/when", spec["when"], (), bare=True)
        before = reader.do_list(f"{at}/before", spec["before"], ()) if "before" in spec else None
        after = reader.do_list(f"{at}/after", spec["after"], ()) if "after" in spec else None
        out.append(
            Extension(
                name=str(name),
                extend="do" if extend == "composite" else str(extend),
                when=spec.get("when"),
                before=before,
                after=after,
            )
        )
    return tuple(out)
