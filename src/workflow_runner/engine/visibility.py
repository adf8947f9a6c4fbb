"""What a run shows in Temporal's visibility: search attributes and memo set at start, the
check that a definition's custom search attributes are registered, and listing runs.

A search attribute the namespace does not know makes Temporal reject the workflow
task that upserts it, and the SDK retries that task for ever: the run would hang.
So a definition's attributes are checked against the namespace before a run starts
(``start_run``) and before a worker serves the definition, and an unknown or mistyped
one is one error naming it and the command that registers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.metadata import SearchAttribute, memo, search_attributes, tasks_of
from workflow_runner.dsl.model import JsonObject

log = logging.getLogger(__name__)
# Our type names (Zigflow's) -> Temporal's indexed value types and CLI spelling.
INDEXED_TYPES = {
    "text": (IndexedValueType.INDEXED_VALUE_TYPE_TEXT, "Text"),
    "keyword": (IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Keyword"),
    "int": (IndexedValueType.INDEXED_VALUE_TYPE_INT, "Int"),
    "double": (IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE, "Double"),
    "bool": (IndexedValueType.INDEXED_VALUE_TYPE_BOOL, "Bool"),
    "datetime": (IndexedValueType.INDEXED_VALUE_TYPE_DATETIME, "Datetime"),
    "keywordlist": (IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST, "KeywordList"),
}


class SearchAttributeNotRegisteredError(Exception):
    """A definition uses a search attribute its namespace does not define (or types otherwise)."""


def declared_attributes(data: JsonObject) -> list[tuple[str, SearchAttribute]]:
    """Every search attribute a definition sets, with where (document first, then tasks)."""
    document = data.get("document")
    found = [
        ("/document/metadata", a)
        for a in search_attributes(
            document.get("metadata") if isinstance(document, dict) else None, "/document/metadata"
        )
    ]
    for pointer, task in tasks_of(data):
        where = pointer + "/metadata"
        found.extend((where, a) for a in search_attributes(task.get("metadata"), where))
    return found


async def check_registered(client: Client, definitions: Iterable[JsonObject]) -> None:
    """Refuse definitions whose custom search attributes the namespace lacks or types otherwise."""
    wanted = [item for data in definitions for item in declared_attributes(data)]
    if not wanted:
        return
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as e:
        if e.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        # A cluster that does not let this client list them: Temporal checks at start.
        log.warning("cannot list search attributes (%s); not checked before start", e.message)
        return
    known: dict[str, int] = {**response.system_attributes, **response.custom_attributes}
    for where, attribute in wanted:
        indexed, spelled = INDEXED_TYPES[attribute.type]
        actual = known.get(attribute.name)
        if actual is None:
            raise SearchAttributeNotRegisteredError(
                f"{where}: search attribute {attribute.name!r} is not registered in namespace "
                f"{client.namespace!r}; register it with 'temporal operator search-attribute "
                f"create --name {attribute.name} --type {spelled}'"
            )
        if actual != indexed:
            raise SearchAttributeNotRegisteredError(
                f"{where}: search attribute {attribute.name!r} is "
                f"{_spelling(actual)} in "
                f"namespace {client.namespace!r}, not {spelled} as the definition says"
            )


def _spelling(indexed: int) -> str:
    return next((spelled for value, spelled in INDEXED_TYPES.values() if value == indexed), "?")


def start_annotations(data: JsonObject) -> tuple[TypedSearchAttributes | None, dict[str, Any]]:
    """The document's literal search attributes and memo, for the start request itself (so
    a run is findable from its first moment); ``${ }`` ones are set by the workflow."""
    from workflow_runner.engine.temporal_options import search_attribute_updates

    document = data.get("document")
    metadata = document.get("metadata") if isinstance(document, dict) else None
    literal = [
        a for a in search_attributes(metadata, "/document/metadata") if not _has_expression(a.value)
    ]
    pairs: list[SearchAttributePair[Any]] = []
    updates = search_attribute_updates(literal, [a.value for a in literal], "/document/metadata")
    for update in updates:
        if update.value is not None:
            pairs.append(SearchAttributePair(update.key, update.value))
    values = {
        k: v for k, v in memo(metadata, "/document/metadata").items() if not _has_expression(v)
    }
    return (TypedSearchAttributes(pairs) if pairs else None), values


def _has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return is_expression(value)
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False


@dataclass(frozen=True)
class RunSummary:
    """One line of ``workflow-runner ls``."""

    workflow_id: str
    run_id: str | None
    workflow_type: str
    status: str
    start_time: datetime
    close_time: datetime | None
    search_attributes: Mapping[str, Any]

    def as_json(self) -> JsonObject:
        return {
            "id": self.workflow_id,
            "runId": self.run_id,
            "type": self.workflow_type,
            "status": self.status,
            "startTime": self.start_time.isoformat(),
            "closeTime": self.close_time.isoformat() if self.close_time else None,
            "searchAttributes": dict(self.search_attributes),
        }


async def list_runs(client: Client, query: str | None, limit: int) -> list[RunSummary]:
    """Runs matching a visibility ``query`` (Temporal's list filter syntax), newest first."""
    runs: list[RunSummary] = []
    async for execution in client.list_workflows(query or None, limit=limit):
        runs.append(
            RunSummary(
                workflow_id=execution.id,
                run_id=execution.run_id,
                workflow_type=execution.workflow_type,
                status=execution.status.name if execution.status is not None else "UNKNOWN",
                start_time=execution.start_time,
                close_time=execution.close_time,
                search_attributes={
                    pair.key.name: _plain(pair.value) for pair in execution.typed_search_attributes
                },
            )
        )
    return runs


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return list(value)
    return value
