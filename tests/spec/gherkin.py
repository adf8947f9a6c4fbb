"""Just enough Gherkin to read the conformance kit's features: scenarios, steps, doc strings.

The kit's files are kept unchanged (tests/spec/ctk/); a Gherkin library would
be a dependency for 11 files written in a dozen step phrasings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

KEYWORDS = ("Given ", "And ", "When ", "Then ", "But ")


@dataclass
class Step:
    text: str  # without its keyword ("given the workflow input is:" keeps its own words)
    doc: str | None = None


@dataclass
class Scenario:
    feature: str
    name: str
    steps: list[Step] = field(default_factory=list)


def parse(path: Path) -> list[Scenario]:
    lines = path.read_text().splitlines()
    scenarios: list[Scenario] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("Scenario:"):
            scenarios.append(Scenario(path.stem, stripped[len("Scenario:") :].strip()))
        elif scenarios and stripped.startswith(KEYWORDS):
            keyword = next(k for k in KEYWORDS if stripped.startswith(k))
            scenarios[-1].steps.append(Step(stripped[len(keyword) :].strip()))
        elif stripped.startswith('"""') and scenarios and scenarios[-1].steps:
            indent = len(lines[i]) - len(lines[i].lstrip())
            body: list[str] = []
            i += 1
            while lines[i].strip() != '"""':
                body.append(lines[i][indent:])
                i += 1
            scenarios[-1].steps[-1].doc = "\n".join(body) + "\n"
        i += 1
    return scenarios
