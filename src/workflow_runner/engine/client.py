"""Connecting to Temporal and starting DSL runs, the same way from every entry point."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.config import Settings, workflow_env
from workflow_runner.engine.catalog import resolve_references
from workflow_runner.engine.definition import Definition
from workflow_runner.engine.registry import AD_HOC_TYPE
from workflow_runner.engine.run_request import RunRequest
from workflow_runner.engine.visibility import check_registered, start_annotations


class TemporalUnreachableError(Exception):
    """Temporal could not be reached at an address (the SDK says so with a bare RuntimeError)."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot reach Temporal at {address}: {reason}")
        self.address = address


async def connect(settings: Settings, store: ObjectStore, address: str) -> Client:
    try:
        return await Client.connect(
            address,
            namespace=settings.temporal_namespace,
            data_converter=build_data_converter(settings, store),
        )
    except RuntimeError as e:  # the SDK's only error for a failed connect
        raise TemporalUnreachableError(address, str(e)) from e


def new_workflow_id(definition: Definition) -> str:
    return f"{definition.name}-{uuid.uuid4().hex[:12]}"


async def start_run(
    client: Client,
    definition: Definition,
    run_input: Any,
    *,
    task_queue: str,
    workflow_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    request = RunRequest(
        definition=definition.data,
        input=run_input,
        definitions=resolve_references(definition, Path(definition.source).parent),
        env=workflow_env(),
    )
    # Children carry their own metadata: check theirs too (a child's upsert would hang as well).
    await check_registered(client, [definition.data, *request.definitions.values()])
    attributes, memo = start_annotations(definition.data)
    return await client.start_workflow(
        AD_HOC_TYPE,
        request,
        id=workflow_id or new_workflow_id(definition),
        task_queue=task_queue,
        search_attributes=attributes,
        memo=memo or None,
    )
