"""CloudEvents for ``listen``/``emit``: envelopes, read modes, and the buffer listens consume.

Every event a run receives (a CloudEvent sent as the ``event`` signal, any
other Temporal signal wrapped as ``{type: signal, id: NAME, data}``, or an
event the run emitted itself) goes into one :class:`EventBuffer`, oldest
first. A listen is a :class:`Listener` (``engine/tasks/listen.py``): each
buffered event is offered to it once, in arrival order, and it says whether
it consumed the event. Offering each event once is enough because a
rejection never turns into an acceptance later in the same listen (filters
and correlation expectations only get stricter), and it keeps a long listen
from re-evaluating its filters over the whole buffer on every arrival.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow_runner.dsl.expressions import from_json
from workflow_runner.dsl.model import JsonObject

SPEC_VERSION = "1.0"
SIGNAL_SOURCE = "temporal-signal"
READ_MODES = ("data", "envelope", "raw")
# Events nobody consumed are kept up to this many; beyond, the oldest is dropped
# (with a warning in the worker's log): emits nobody listens to, or a flood of
# signals, would otherwise grow the workflow's memory for the life of the run.
MAX_BUFFERED_EVENTS = 1000
# CloudEvents 1.0: attribute names are lower-case ASCII letters or digits.
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
# Context attributes an emitted event must end up with, as non-empty strings.
REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")


def signal_event(name: str, payload: Any, time: str) -> JsonObject:
    """A Temporal signal as the CloudEvent a listen filter sees (Zigflow: ``type: signal``)."""
    return {
        "specversion": SPEC_VERSION,
        "type": "signal",
        "id": name,
        "source": SIGNAL_SOURCE,
        "time": time,
        "data": payload,
    }


def make_event(attributes: JsonObject, *, event_id: str, time: str, source: str) -> JsonObject:
    """A complete CloudEvents 1.0 envelope: what ``emit.event.with`` gave, plus what it left out.

    ``id``, ``source`` and ``time`` default to a fresh UUID, the run and now;
    ``datacontenttype`` to JSON when there is data. Extension attributes pass through.
    """
    event: JsonObject = {"specversion": SPEC_VERSION, "id": event_id, "source": source}
    event["time"] = time
    if "data" in attributes and "data_base64" not in attributes:
        event["datacontenttype"] = "application/json"
    event.update(attributes)
    return event


def envelope_problem(event: JsonObject) -> str | None:
    """Why ``event`` is not a valid CloudEvent, or ``None``."""
    for name in REQUIRED_ATTRIBUTES:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            return f"attribute {name!r} must be a non-empty string, got {value!r}"
    for name in event:
        if name not in ("data", "data_base64") and not ATTRIBUTE_NAME.match(name):
            return f"attribute name {name!r} is not a CloudEvents name (a-z, 0-9, at most 20)"
    return None


def _is_json(content_type: Any) -> bool:
    if content_type is None:
        return True
    text = str(content_type).split(";")[0].strip().lower()
    return text == "application/json" or text.endswith("+json") or text == "text/json"


def read_event(event: JsonObject, mode: str) -> Any:
    """What a listen outputs for ``event``: ``data`` (decoded), the ``envelope``, or ``raw``.

    ``data``: the payload as a value (a ``data_base64`` body is decoded, and
    parsed when ``datacontenttype`` is JSON; a JSON string body is parsed).
    ``raw``: the payload exactly as carried (the ``data_base64`` text, or the
    ``data`` value undecoded). ``envelope``: the whole event.
    """
    if mode == "envelope":
        return event
    if "data_base64" in event and "data" not in event:
        carried = event["data_base64"]
        if mode == "raw":
            return carried
        try:
            body = base64.b64decode(str(carried), validate=True)
        except (binascii.Error, ValueError):
            return carried
        if _is_json(event.get("datacontenttype")):
            try:
                return from_json(body)
            except ValueError:
                pass
        return body.decode("utf-8", errors="replace")
    data = event.get("data")
    content_type = event.get("datacontenttype")
    if mode == "data" and isinstance(data, str) and content_type and _is_json(content_type):
        try:
            return from_json(data)
        except ValueError:
            return data
    return data


def same(wanted: Any, actual: Any) -> bool:
    """A filter value matches: objects as subsets (``data: {status: ok}``), the rest equal."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and same(value, actual[key]) for key, value in wanted.items()
        )
    return bool(wanted == actual)


def same_or_pattern(wanted: Any, actual: Any) -> bool:
    """A context attribute (``type``, ``source``...): equal, or a regular expression it fully
    matches (the spec: filters support regular expressions)."""
    if same(wanted, actual):
        return True
    if not isinstance(wanted, str) or not isinstance(actual, str):
        return False
    try:
        return re.fullmatch(wanted, actual) is not None
    except re.error:
        return False


class Listener(Protocol):
    """A running listen, as the buffer and the workflow see it."""

    @property
    def handlers(self) -> Handlers:
        """The Temporal queries and updates it answers."""
        ...

    def done(self) -> bool:
        """Satisfied: stop waiting."""
        ...

    async def offer(self, event: JsonObject) -> bool:
        """Consider ``event``; ``True`` when it consumed it (it leaves the buffer)."""
        ...


@dataclass
class EventBuffer:
    """Received, not yet consumed events, oldest first, each numbered in arrival order."""

    limit: int = MAX_BUFFERED_EVENTS
    events: dict[int, JsonObject] = field(default_factory=dict)
    next_seq: int = 0
    dropped: int = 0

    def add(self, event: JsonObject) -> JsonObject | None:
        """Buffer ``event``; returns the oldest one when it had to be dropped to make room."""
        self.events[self.next_seq] = event
        self.next_seq += 1
        if len(self.events) <= self.limit:
            return None
        oldest = next(iter(self.events))
        self.dropped += 1
        return self.events.pop(oldest)

    async def offer_new(self, listener: Listener, seen: int) -> int:
        """Offer ``listener`` each event numbered above ``seen``, in order, until it is done
        or none is left; returns the number up to which every event was offered or gone
        (the caller's next ``seen``). Events that arrive while an offer awaits (a
        ``foreach`` body) are offered in the same call."""
        while not listener.done():
            high = self.next_seq - 1
            if high <= seen:
                break
            for seq in [s for s in self.events if seen < s <= high]:
                if listener.done():
                    break
                event = self.events.get(seq)
                if event is None:  # taken by another listen while we awaited
                    continue
                if await listener.offer(event):
                    self.events.pop(seq, None)
            seen = high
        return seen


QueryHandler = Callable[[], Any]


@dataclass(frozen=True)
class UpdateHandler:
    """A Temporal update a listen answers while it waits: ``validator`` rejects (raises)
    before anything is recorded in history; ``handler`` runs for accepted ones."""

    handler: Callable[[Any], Awaitable[Any]]
    validator: Callable[[Any], None]


@dataclass
class Handlers:
    """Temporal handlers a listen registers: queries stay for the rest of the run
    (Zigflow's non-blocking query listener), updates only while the listen waits."""

    queries: Mapping[str, QueryHandler] = field(default_factory=dict)
    updates: Mapping[str, UpdateHandler] = field(default_factory=dict)
