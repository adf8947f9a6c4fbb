"""What a definition's expressions can read, from its text: ``$data``, ``$workflow``.

An expression gets only the variables it names, so a variable no string of the
definition names is never read, and the run can skip what keeping it costs:

- ``$data`` (the input's keys, then every ``set`` result merged in, with the loop
  variables bound while a ``for`` runs) is this runner's extension to the spec
  dialect and the heart of Zigflow's. Keeping it costs a copy of the whole dict per
  ``set`` and two per loop item, ~15% of a ``for`` over ``set`` tasks.
- ``$workflow.definition`` became the whole definition; runs recorded before saw the
  document header, and only a definition that names ``$workflow`` needs to ask which
  (a marker in history, engine/workflow.py).

A function defined outside the text (a catalog's, a URL's) may name anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workflow_runner.dsl.dialect import SPEC
from workflow_runner.dsl.model import WorkflowModel

_DATA = re.compile(r"\$data\b")
_WORKFLOW = re.compile(r"\$workflow\b")
# by identity, the model kept alive: (model, names $data, names $workflow)
_KNOWN: dict[int, tuple[WorkflowModel, bool, bool]] = {}
_KNOWN_MAX = 256


def keeps_data(model: WorkflowModel, definition: Mapping[str, Any]) -> bool:
    """``True`` unless the run may skip ``$data``: a spec-dialect ``definition`` (``model``
    is read from it) in which no string names ``$data`` and no ``call`` names a catalog's
    or a URL's function (whose expressions are not in the text). Zigflow's runs keep it."""
    return model.dialect != SPEC or _names(model, definition)[0]


def reads_workflow(model: WorkflowModel, definition: Mapping[str, Any]) -> bool:
    """Whether an expression of ``definition`` may read ``$workflow``."""
    return _names(model, definition)[1]


def _names(model: WorkflowModel, definition: Mapping[str, Any]) -> tuple[bool, bool]:
    known = _KNOWN.get(id(model))
    if known is not None and known[0] is model:
        return known[1], known[2]
    found = [False, False]
    _scan(definition, found)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[id(model)] = (model, found[0], found[1])
    return found[0], found[1]


def _scan(value: Any, found: list[bool]) -> None:
    """Sets ``found[0]`` if ``value`` names ``$data``, ``found[1]`` if ``$workflow``."""
    if isinstance(value, str):
        if not found[0] and _DATA.search(value):
            found[0] = True
        if not found[1] and _WORKFLOW.search(value):
            found[1] = True
    elif isinstance(value, dict):
        call = value.get("call")
        if isinstance(call, str) and ("@" in call or "://" in call):
            found[0] = found[1] = True  # name:version@catalog, or a URL: not in this text
            return
        for key, item in value.items():
            _scan(key, found)
            _scan(item, found)
    elif isinstance(value, list):
        for item in value:
            _scan(item, found)
