"""The layers of docs/architecture.md, enforced: a package imports only the layers below it.

cli → runtime → engine → dsl → claimcheck → config. An upward import is how a
clean design rots one convenience at a time, so it fails here, naming the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "workflow_runner"
ORDER = ("config", "claimcheck", "dsl", "engine", "runtime", "cli")


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "workflow_runner" or len(parts) < 2:
        return None
    return ORDER.index(parts[1]) if parts[1] in ORDER else None


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_every_package_imports_only_the_layers_below_it() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "workflow_runner." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        own = layer_of(module)
        if own is None:
            continue
        for line, imported in imports_of(path):
            target = layer_of(imported)
            if target is not None and target > own:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {imported}")
    assert upward == []


def test_the_layer_list_names_every_package() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert packages == set(ORDER) - {"config"}
