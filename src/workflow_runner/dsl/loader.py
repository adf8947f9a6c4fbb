"""YAML → plain data plus the line/column of every node, for located error messages.

PyYAML gives positions only on its node tree, so the document is composed to
nodes, constructed to plain data, and the positions are indexed by JSON
pointer on the way.

A definition is untrusted input, and YAML aliases let a few hundred bytes
describe an exponential tree (the "billion laughs": nine lists of nine
aliases to the previous list are 9⁹ nodes). Building the plain data copies
every alias, so the builder counts every node it builds, alias re-visits
included, and stops at a budget proportional to the file's own size; nesting
(written, or made by aliases, or a cycle of aliases) is bounded too, so no
later recursive walk (validation, jq, the payload converter) can exhaust the
stack. Each refusal names the file, line and column of the alias or node.
PyYAML's own merge-key flattening (``<<: [*a, *a, …]``) copies pairs before
anything can count them, so merges are resolved here, under the same budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workflow_runner.dsl.errors import DefinitionError, Problem

MAX_DEFINITION_BYTES = 2 * 1024 * 1024
# No workflow nests anywhere near this; it keeps the composer (two Python
# frames per level) and every later recursive walk far inside Python's limit.
MAX_NESTING = 200
# Alias expansion budget: a small file may expand to this many nodes...
MIN_NODE_BUDGET = 100_000
# ...a larger one to this many times its own node count...
ALIAS_AMPLIFICATION = 50
# ...but aliases never add more than this many nodes to a large file (a second or
# two of building), so a crafted 2 MB file cannot buy minutes either.
MAX_ALIAS_EXTRA_NODES = 1_000_000

Locations = dict[str, tuple[int, int]]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_STR_TAG = "tag:yaml.org,2002:str"


def pointer_join(base: str, token: str | int) -> str:
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"


def position(mark: Any) -> tuple[int, int]:
    """1-based (line, column) of a PyYAML mark, (1, 1) when there is none."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def node_budget(node_count: int) -> int:
    """How many nodes a document of ``node_count`` written nodes may build, aliases expanded."""
    return max(
        MIN_NODE_BUDGET,
        min(ALIAS_AMPLIFICATION * node_count, node_count + MAX_ALIAS_EXTRA_NODES),
    )


class _Refused(Exception):
    """A located reason to refuse the document, turned into a ``Problem`` by ``load_yaml``."""

    def __init__(self, mark: Any, pointer: str, message: str) -> None:
        super().__init__(message)
        self.line, self.column = position(mark)
        self.pointer = pointer
        self.message = message


def _too_deep(what: str) -> str:
    return (
        f"{what} is nested too deeply (more than {MAX_NESTING} levels) to be a workflow; "
        "keep deep data out of the definition and pass it as workflow input"
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts what it composes, bounds nesting and remembers alias sites.

    After composition an alias is the very node its anchor names, so where it
    was written is lost; ``alias_sites`` keeps it per (parent, slot), which is
    how the builder can point at the alias that blows a budget.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_count = 0
        self.depth = 0
        self.alias_sites: dict[tuple[int, int], tuple[Any, str]] = {}  # (mark, anchor)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if parent is not None and index is not None:  # a sequence index, or a value's key
                slot = index if isinstance(index, int) else id(index)
                self.alias_sites[(id(parent), slot)] = (event.start_mark, str(event.anchor))
            return node
        self.node_count += 1
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise _Refused(event.start_mark, "", _too_deep("the document"))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Plain data from the node graph, counting every node it builds (aliases included)."""

    def __init__(self, loader: _Loader) -> None:
        self.locations: Locations = {}
        self._constructor = loader
        self._alias_sites = loader.alias_sites
        self.budget = node_budget(loader.node_count)
        self._built = 0
        self._on_path: set[int] = set()  # collections being built: an alias to one is a cycle
        self._expanding: list[tuple[Any, str, str]] = []  # alias sites, outermost first

    def build(self, node: yaml.Node, pointer: str, depth: int = 0) -> Any:
        self._built += 1
        if self._built > self.budget:
            raise self._refusal(
                node,
                pointer,
                f"the document expands to more than {self.budget} nodes (a YAML alias "
                "bomb?); repeat less, or pass large data as workflow input",
            )
        self.locations[pointer] = position(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._on_path:
            raise self._refusal(
                node, pointer, "it refers to a node that contains it", innermost=True
            )
        if depth >= MAX_NESTING:
            raise self._refusal(node, pointer, _too_deep("the document"))
        self._on_path.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, pointer, depth)
            return [
                self._child(node, i, child, pointer_join(pointer, i), depth)
                for i, child in enumerate(node.value)
            ]
        finally:
            self._on_path.discard(id(node))

    def _child(
        self, parent: yaml.Node, slot: int, node: yaml.Node, pointer: str, depth: int
    ) -> Any:
        site = self._alias_sites.get((id(parent), slot))
        if site is None:
            return self.build(node, pointer, depth + 1)
        self._expanding.append((site[0], site[1], pointer))
        try:
            return self.build(node, pointer, depth + 1)
        finally:
            self._expanding.pop()

    def _mapping(self, node: yaml.MappingNode, pointer: str, depth: int) -> dict[str, Any]:
        """Merged keys first (the first ``<<`` wins), then the mapping's own, which win over all."""
        out: dict[str, Any] = {}
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for key, value in self._merged(node, key_node, value_node, pointer, depth).items():
                    out.setdefault(key, value)
            else:
                own.append((key_node, value_node))
        self.locations[pointer] = position(node.start_mark)
        for key_node, value_node in own:
            key = self._key(key_node, pointer)
            # the composer filed a value's alias site under its key node
            out[key] = self._child(
                node, id(key_node), value_node, pointer_join(pointer, key), depth
            )
        return out

    def _merged(
        self,
        node: yaml.MappingNode,
        key_node: yaml.Node,
        value_node: yaml.Node,
        pointer: str,
        depth: int,
    ) -> dict[str, Any]:
        """``<<: *a`` or ``<<: [*a, *b]``: the earlier mapping wins, as in PyYAML."""
        sources: list[tuple[yaml.Node, int, yaml.Node]]
        if isinstance(value_node, yaml.SequenceNode):
            sources = [(value_node, i, n) for i, n in enumerate(value_node.value)]
        else:
            sources = [(node, id(key_node), value_node)]
        merged: dict[str, Any] = {}
        for parent, slot, source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise _Refused(
                    source.start_mark, pointer, "a merge key '<<' takes a mapping or a list of them"
                )
            for key, value in self._child(parent, slot, source, pointer, depth).items():
                merged.setdefault(key, value)
        return merged

    def _key(self, key_node: yaml.Node, pointer: str) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            raise _Refused(key_node.start_mark, pointer, f"a mapping key must be text, not {kind}")
        if key_node.tag == _VALUE_TAG:  # PyYAML's '=' key, read as text like flatten_mapping does
            key_node.tag = _STR_TAG
        key = self._constructor.construct_object(key_node, deep=True)
        return key if isinstance(key, str) else str(key)

    def _scalar(self, node: yaml.Node) -> Any:
        value = self._constructor.construct_object(node, deep=True)
        if hasattr(value, "isoformat"):  # YAML timestamps: keep them JSON-friendly
            return value.isoformat()
        return value

    def _refusal(
        self, node: yaml.Node, pointer: str, message: str, *, innermost: bool = False
    ) -> _Refused:
        """Located at an alias being expanded (the one to fix), else at the node itself.

        A budget is blown by the outermost alias (the deepest ones are only
        its parts); a cycle is closed by the innermost one.
        """
        if self._expanding:
            mark, anchor, at = self._expanding[-1 if innermost else 0]
            return _Refused(mark, at, f"alias *{anchor}: {message}")
        return _Refused(node.start_mark, pointer, message)


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
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects non-printable characters right here
        node = loader.get_single_node()
        if node is None:
            raise DefinitionError([Problem(file, 1, 1, "", "the file is empty")])
        builder = _Builder(loader)
        return builder.build(node, ""), builder.locations
    except _Refused as e:
        problem = Problem(file, e.line, e.column, e.pointer, e.message)
        raise DefinitionError([problem]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = position(mark)
        reason = " ".join(str(x) for x in (e.context, e.problem) if x)
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "${" in lines[mark.line]:
            reason += " (quote a ${ } expression that contains ': ' or '{')"
        raise DefinitionError(
            [Problem(file, line, column, "", f"invalid YAML: {reason}")]
        ) from None
    except yaml.YAMLError as e:
        raise DefinitionError([Problem(file, 1, 1, "", f"invalid YAML: {e}")]) from None
    except RecursionError:  # a backstop: the bounds above should make this unreachable
        line, column = position(loader.get_mark() if loader is not None else None)
        raise DefinitionError(
            [Problem(file, line, column, "", _too_deep("the document"))]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


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
