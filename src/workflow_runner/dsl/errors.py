"""The spec's typed errors, and the loader's validation errors.

A workflow error is data (``type``, ``status``, ``title``, ``detail``,
``instance``) so it can cross activity and child-workflow boundaries as
Temporal failure details and still be matched by ``catch.errors.with``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPEC_ERROR_BASE = "https://serverlessworkflow.io/spec/1.0.0/errors/"
OPEN_SPEC_ERROR_BASE = "https://open-workflow-specification.org/spec/1.0.0/errors/"

# (kind, default status) as defined by the DSL's standard error types.
STANDARD_ERRORS: dict[str, int] = {
    "configuration": 400,
    "validation": 400,
    "expression": 400,
    "authentication": 401,
    "authorization": 403,
    "timeout": 408,
    "communication": 500,
    "runtime": 500,
}


def error_type(kind: str) -> str:
    return SPEC_ERROR_BASE + kind


# Older spellings of the standard types that the spec repository itself still
# uses: the conformance kit (ctk/features/try.feature) writes
# ``https://serverlessworkflow.io/dsl/errors/types/communication`` and the
# reference's Try example ``https://serverlessworkflow.io.io/dsl/...`` (sic). A
# catch filter written that way must match what the runtime raises, so these
# are read as the standard type — only for the standard kinds: a custom
# ``.../dsl/errors/types/custom`` stays what it is.
LEGACY_STANDARD_BASES = (
    "https://serverlessworkflow.io/dsl/errors/types/",
    "https://serverlessworkflow.io.io/dsl/errors/types/",
)


def normalize_error_type(value: str) -> str:
    """The URI under which equal error types compare equal (the serverlessworkflow.io one)."""
    if value.startswith(OPEN_SPEC_ERROR_BASE):
        return SPEC_ERROR_BASE + value[len(OPEN_SPEC_ERROR_BASE) :]
    for base in LEGACY_STANDARD_BASES:
        kind = value[len(base) :]
        if value.startswith(base) and kind in STANDARD_ERRORS:
            return SPEC_ERROR_BASE + kind
    return value


@dataclass
class WorkflowError(Exception):
    """An error in the DSL's sense; what ``raise`` throws and ``catch`` matches."""

    type: str
    status: int
    title: str | None = None
    detail: str | None = None
    instance: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.title or self.type)

    def __str__(self) -> str:
        where = f" at {self.instance}" if self.instance else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.title or self.type} (status {self.status}){where}{detail}"

    @classmethod
    def of(
        cls, kind: str, detail: str, *, title: str | None = None, instance: str | None = None
    ) -> WorkflowError:
        return cls(
            type=error_type(kind),
            status=STANDARD_ERRORS[kind],
            title=title or f"{kind.capitalize()} error",
            detail=detail,
            instance=instance,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "status": self.status}
        for name in ("title", "detail", "instance"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowError:
        return cls(
            type=str(data.get("type", error_type("runtime"))),
            status=int(data.get("status", 500)),
            title=data.get("title"),
            detail=data.get("detail"),
            instance=data.get("instance"),
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, located precisely enough to fix it."""

    file: str
    line: int
    column: int
    pointer: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        at = f" ({self.pointer})" if self.pointer else ""
        return f"{where}{at}: {self.message}"


class DefinitionError(Exception):
    """The definition is invalid; nothing has run. Lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
