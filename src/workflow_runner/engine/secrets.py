"""Secrets stay out of history: workflows only ever see placeholder tokens.

``$secrets.token`` evaluates (in workflow code) to ``⟦secret:token⟧``; string
operations such as ``"Bearer " + $secrets.token`` keep the token intact, and
activities replace tokens by the real values just before doing I/O. So the
event history, which stores every activity input, holds tokens, never values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_TOKEN = re.compile(r"⟦secret:([A-Za-z0-9_.-]+)⟧")


class MissingSecretError(LookupError):
    """A workflow used a secret this worker was not given."""


def token(name: str) -> str:
    return f"⟦secret:{name}⟧"


def tokens_for(names: Iterable[str]) -> dict[str, str]:
    return {name: token(name) for name in names}


def reveal(value: Any, secrets: Mapping[str, str]) -> Any:
    """Replace every token in a structure by its secret's value (worker side only)."""
    if isinstance(value, str):
        if "⟦secret:" not in value:
            return value

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            found = secrets.get(name, secrets.get(name.lower()))
            if found is None:
                raise MissingSecretError(
                    f"secret {name!r} is not set on this worker; "
                    f"set WORKFLOW_SECRET_{name.upper()} in the worker's environment"
                )
            return found

        return _TOKEN.sub(lookup, value)
    if isinstance(value, dict):
        return {k: reveal(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, secrets) for v in value]
    return value


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """Remove secret values from text bound for logs, errors or outputs."""
    for name, value in secrets.items():
        if value and len(value) >= 4:
            text = text.replace(value, token(name))
    return text


def redact_value(value: Any, secrets: Mapping[str, str]) -> Any:
    """``redact`` over a structure: activity results go to history, so no secret may ride along."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, secrets) for v in value]
    return value
