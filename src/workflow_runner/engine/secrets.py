"""Secrets stay out of history, and data can never turn itself into a secret.

How it works
------------
Workflow code never holds a secret value. ``$secrets.api_token`` evaluates to
a *token*, ``⟦secret:api_token:NONCE⟧``; string operations such as
``"Bearer " + $secrets.api_token`` keep it intact, and an activity replaces
tokens by the real values just before doing I/O (``reveal``), then scrubs the
values out of whatever it returns (``redact_value``/``redact_bytes``). The
event history stores every activity input and result, so it holds tokens and
redaction markers, never values.

Threat model
------------
*Who can write data into a run:* whoever supplies its input (often relayed
from a web form or a queue), whoever can send it a signal or event, and every
HTTP server or process it talks to (responses and stdout become data). None
of them may obtain a secret. Without a guard, any of them could write the
token text into the data and have the next ``call: http`` substitute the real
value and ship it to a server of their choosing.

*The guard* is a scope the workflow sends with every activity request,
outside the data (``SecretScope``): the names the definition declares in
``use.secrets`` — the only names ``$secrets`` offers at all — and a per-run
nonce. An activity resolves a token only when its name is in the scope AND
its nonce matches; anything else is data and is sent verbatim (not an error:
a document *about* secret tokens must pass through untouched, and failing
would let an attacker abort runs at will). So a token written by an attacker
is inert, whether it names a declared secret (wrong nonce) or not (not in
scope).

*The nonce* is 128 random bits from ``os.urandom``, drawn once per run by the
``secret_nonce`` local activity, so replay reads it back from the history
marker. It deliberately does not come from ``workflow.uuid4()``: Temporal
seeds that generator from a hash of the run id (sdk-core
``str_to_randomness_seed(original_execution_run_id)``), and the run id is
visible to anyone the workflow hands ``$workflow.runId`` to.

*What the guard does not cover:* anyone who can read this run's history (it
holds the nonce) or start workflows on the task queue (they can write a
definition that uses ``$secrets`` outright). Temporal namespace access is
therefore access to the worker's secrets; protect it accordingly. A token the
definition itself puts into output, an ``emit`` event or a child workflow's
input stays a token (a child has its own nonce and must declare its own
``use.secrets``).

Redaction
---------
Values of *every* secret this worker holds (not only the run's) are replaced
by the inert marker ``⟦secret:NAME⟧`` in activity results — JSON keys as well
as values, and in bytes before they are base64-encoded — in error messages
and (cli/logs.py) in log records. A marker is never resolvable: a server that
echoes a secret back cannot make the workflow resend it elsewhere. Values
shorter than ``MIN_REDACTED_LENGTH`` are not redacted (replacing every "1"
in a response would corrupt it); such a value is not a secret anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MIN_REDACTED_LENGTH = 4
NONCE_ACTIVITY = "secret_nonce"
_MARK = "⟦secret:"
# name, then an optional ":nonce" (absent in redaction markers and forgeries).
_TOKEN = re.compile(r"⟦secret:([A-Za-z0-9_.-]+)(?::([A-Za-z0-9]*))?⟧")


class MissingSecretError(LookupError):
    """A workflow used a secret this worker was not given."""


@dataclass
class SecretScope:
    """Which tokens an activity may resolve: sent by the workflow beside the data, never in it."""

    nonce: str = ""
    names: list[str] = field(default_factory=list)


def token(name: str, nonce: str) -> str:
    return f"⟦secret:{name}:{nonce}⟧"


def marker(name: str) -> str:
    """What a redacted value becomes: recognisable, and never resolvable."""
    return f"⟦secret:{name}⟧"


def tokens_for(names: Iterable[str], nonce: str) -> dict[str, str]:
    return {name: token(name, nonce) for name in names}


def reveal(value: Any, secrets: Mapping[str, str], scope: SecretScope | None) -> Any:
    """Replace the run's own tokens by their secrets' values (worker side only).

    Only tokens whose name is in ``scope.names`` and whose nonce is
    ``scope.nonce`` are replaced; every other token-like text is returned as
    it is. No scope (or an empty nonce) resolves nothing.
    """
    if scope is None or not scope.nonce or not scope.names:
        return value
    allowed = set(scope.names)

    def one(text: str) -> str:
        if _MARK not in text:
            return text

        def lookup(match: re.Match[str]) -> str:
            name, nonce = match.group(1), match.group(2)
            if nonce != scope.nonce or name not in allowed:
                return match.group(0)
            found = secrets.get(name, secrets.get(name.lower()))
            if found is None:
                raise MissingSecretError(
                    f"secret {name!r} is not set on this worker; "
                    f"set WORKFLOW_SECRET_{name.upper()} in the worker's environment"
                )
            return found

        return _TOKEN.sub(lookup, text)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return one(item)
        if isinstance(item, dict):
            return {one(k) if isinstance(k, str) else k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def disarm(value: Any) -> Any:
    """Tokens become markers: for an activity that echoes its own request into its result.

    The result is data the workflow may send anywhere next; a live token in
    it would be revealed again wherever it went.
    """
    if isinstance(value, str):
        return _TOKEN.sub(lambda m: marker(m.group(1)), value) if _MARK in value else value
    if isinstance(value, dict):
        return {disarm(k): disarm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [disarm(v) for v in value]
    return value


def _redactable(secrets: Mapping[str, str]) -> list[tuple[str, str]]:
    """(value, name) pairs, longest value first so a secret containing another is caught whole."""
    pairs = [(v, n) for n, v in secrets.items() if v and len(v) >= MIN_REDACTED_LENGTH]
    return sorted(pairs, key=lambda p: -len(p[0]))


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """Remove secret values from text bound for logs, errors or outputs."""
    for value, name in _redactable(secrets):
        if value in text:
            text = text.replace(value, marker(name))
    return text


def redact_bytes(data: bytes | bytearray, secrets: Mapping[str, str]) -> bytes | bytearray:
    """``redact`` on raw bytes (UTF-8 forms of the values), before they are base64-encoded.

    Returns ``data`` itself when it holds no secret, so a large body is not copied.
    """
    for value, name in _redactable(secrets):
        needle = value.encode()
        if needle in data:
            data = data.replace(needle, marker(name).encode())
    return data


def redact_value(value: Any, secrets: Mapping[str, str]) -> Any:
    """``redact`` over a structure, keys included: activity results go to history.

    Lists and dicts are updated in place (callers pass data they just built,
    such as a decoded response body), so a 60 MB JSON document is walked, not
    copied. A dict is rebuilt only when one of its keys holds a secret.
    """
    pairs = _redactable(secrets)
    if not pairs:
        return value

    def one(text: str) -> str:
        for secret, name in pairs:
            if secret in text:
                text = text.replace(secret, marker(name))
        return text

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return one(item)
        if isinstance(item, list):
            for i, v in enumerate(item):
                if isinstance(v, str | list | dict):
                    item[i] = walk(v)
            return item
        if isinstance(item, dict):
            keys_clean = True
            for k, v in item.items():
                if isinstance(k, str) and one(k) != k:
                    keys_clean = False
                if isinstance(v, str | list | dict):
                    item[k] = walk(v)
            if keys_clean:
                return item
            return {one(k) if isinstance(k, str) else k: v for k, v in item.items()}
        return item

    return walk(value)
