"""A corpus of malformed definitions: each is rejected with a located, actionable error.

Every file in corpus/ starts with ``# expect: <fragment>``; generated cases
(a 10 MB file, deep nesting, non-UTF-8) are added at test time. The CLI's
exit code and the absence of tracebacks are checked in the faults suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import load_definition

CORPUS = Path(__file__).parent / "corpus"
HEADER = "document:\n  dsl: '1.0.0'\n  namespace: bad\n  name: corpus\n  version: '1'\n"


def expected_fragment(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), path
    return first[len("# expect: ") :]


def generated(directory: Path) -> list[tuple[Path, str]]:
    cases = {
        "huge.yaml": (
            HEADER + "do:\n  - a:\n      set:\n        x: '" + "y" * 10_500_000 + "'\n",
            "MB",
        ),
        "deep.yaml": (
            HEADER + "do:\n  - a:\n      set:\n        x: " + "[" * 20000 + "]" * 20000 + "\n",
            "nested too deeply",
        ),
    }
    out = []
    for name, (text, fragment) in cases.items():
        path = directory / name
        path.write_text(text)
        out.append((path, fragment))
    latin1 = directory / "latin1.yaml"
    latin1.write_bytes(HEADER.encode() + "do:\n  - caf\xe9:\n      set: {}\n".encode("latin-1"))
    out.append((latin1, "not UTF-8"))
    return out


def corpus_cases(directory: Path) -> list[tuple[Path, str]]:
    files = sorted(CORPUS.glob("*.yaml"))
    return [(p, expected_fragment(p)) for p in files] + generated(directory)


def test_corpus_is_large_enough(tmp_path: Path) -> None:
    assert len(corpus_cases(tmp_path)) >= 30


@pytest.mark.parametrize(
    "name",
    [*sorted(p.name for p in CORPUS.glob("*.yaml")), "huge.yaml", "deep.yaml", "latin1.yaml"],
)
def test_each_malformed_definition_is_located(tmp_path: Path, name: str) -> None:
    cases = dict((p.name, (p, f)) for p, f in corpus_cases(tmp_path))
    path, fragment = cases[name]
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    problems = info.value.problems
    assert problems, path
    assert any(fragment in p.message for p in problems), [str(p) for p in problems]
    for problem in problems:
        assert problem.file == str(path) and problem.line >= 1 and problem.column >= 1
        assert str(problem).startswith(f"{path}:{problem.line}:{problem.column}")
