"""Whether a run must keep ``$data``: the spec dialect's runs skip it when nothing can read it.

``$data`` (the input's keys, then every ``set`` result merged in, with the loop
variables bound while a ``for`` runs) is this runner's extension to the spec
dialect and the heart of Zigflow's. Keeping it costs a copy of the whole dict per
``set`` and two per loop item, ~15% of a ``for`` over ``set`` tasks, for a value
most spec definitions never read. It can only be read by an expression that
names ``$data`` (expressions get only the variables they name), so a definition
with no ``$data`` anywhere in its text, and no function defined outside it, never
sees it: its runs leave it as it started.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workflow_runner.dsl.dialect import SPEC
from workflow_runner.dsl.model import WorkflowModel

_DATA = re.compile(r"\$data\b")
_KNOWN: dict[int, tuple[WorkflowModel, bool]] = {}  # by identity, the model kept alive
_KNOWN_MAX = 256


def keeps_data(model: WorkflowModel, definition: Mapping[str, Any]) -> bool:
    """``True`` unless the run may skip ``$data``: a spec-dialect ``definition`` (``model``
    is read from it) in which no string names ``$data`` and no ``call`` names a catalog's
    or a URL's function (whose expressions are not in the text). Zigflow's runs keep it."""
    known = _KNOWN.get(id(model))
    if known is not None and known[0] is model:
        return known[1]
    keeps = model.dialect != SPEC or _may_read(definition)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[id(model)] = (model, keeps)
    return keeps


def _may_read(value: Any) -> bool:
    if isinstance(value, str):
        return _DATA.search(value) is not None
    if isinstance(value, dict):
        call = value.get("call")
        if isinstance(call, str) and ("@" in call or "://" in call):
            return True  # name:version@catalog, or a URL: its body is not in this text
        return any(_may_read(key) or _may_read(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_may_read(item) for item in value)
    return False
