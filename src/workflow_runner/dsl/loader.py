"""YAML → plain data plus the line/column of every node, for located error messages.

PyYAML gives positions only on its node tree, so the document is composed to
nodes, constructed to plain data, and the positions are indexed by JSON
pointer on the way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workflow_runner.dsl.errors import DefinitionError, Problem

MAX_DEFINITION_BYTES = 2 * 1024 * 1024
Locations = dict[str, tuple[int, int]]


def pointer_join(base: str, token: str | int) -> str:
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"


class _Builder:
    def __init__(self) -> None:
        self.locations: Locations = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, pointer: str) -> Any:
        self.locations[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            self._constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                out[key] = self.build(value_node, pointer_join(pointer, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(child, pointer_join(pointer, i)) for i, child in enumerate(node.value)
            ]
        value = self._constructor.construct_object(node, deep=True)
        if hasattr(value, "isoformat"):  # YAML timestamps: keep them JSON-friendly
            return value.isoformat()
        return value


def load_yaml(text: str, file: str) -> tuple[Any, Locations]:
    """Parse ``text``; a syntax error becomes a ``DefinitionError`` with its location."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DEFINITION_BYTES:
        raise DefinitionError(
            [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    f"definition is larger than {MAX_DEFINITION_BYTES // (1024 * 1024)} MB; "
                    "keep data out of the definition and pass it as workflow input",
                )
            ]
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise DefinitionError([Problem(file, 1, 1, "", "the file is empty")])
        builder = _Builder()
        return builder.build(node, ""), builder.locations
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = " ".join(str(x) for x in (e.context, e.problem) if x)
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "${" in lines[mark.line]:
            reason += " (quote a ${ } expression that contains ': ' or '{')"
        raise DefinitionError(
            [Problem(file, line, column, "", f"invalid YAML: {reason}")]
        ) from None
    except yaml.YAMLError as e:
        raise DefinitionError([Problem(file, 1, 1, "", f"invalid YAML: {e}")]) from None
    except RecursionError:
        raise DefinitionError(
            [Problem(file, 1, 1, "", "the document is nested too deeply to be a workflow")]
        ) from None


def read_definition_file(path: Path) -> tuple[str, str]:
    """(text, display name); unreadable files are definition errors too."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_DEFINITION_BYTES:
            raise DefinitionError(
                [
                    Problem(
                        name,
                        1,
                        1,
                        "",
                        f"definition is {size / 1e6:.1f} MB, larger than the "
                        f"{MAX_DEFINITION_BYTES // (1024 * 1024)} MB limit",
                    )
                ]
            )
        return path.read_text(encoding="utf-8"), name
    except UnicodeDecodeError as e:
        raise DefinitionError([Problem(name, 1, 1, "", f"not UTF-8 text: {e.reason}")]) from None
    except OSError as e:
        raise DefinitionError([Problem(name, 1, 1, "", f"cannot read: {e.strerror}")]) from None
