"""Asking Temporal whether a blob's workflow is still open (for GC)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode


class TemporalRunStatus:
    """``RunStatus`` over DescribeWorkflowExecution and visibility; a client per namespace."""

    def __init__(self, clients: dict[str, Client]) -> None:
        self.clients = clients

    @property
    def namespaces(self) -> Collection[str]:
        return self.clients.keys()

    async def is_open(self, namespace: str, workflow_id: str, run_id: str | None) -> bool | None:
        """Describe is strongly consistent, unlike visibility: this is the check GC prefers."""
        client = self.clients.get(namespace)
        if client is None:
            return None  # a namespace we were not given: keep, never guess
        try:
            description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return False  # closed long ago and removed by retention
            return None
        return description.status == WorkflowExecutionStatus.RUNNING

    async def running_workflows(self, namespace: str) -> AsyncIterator[tuple[str, str]]:
        """Every open workflow's (type, id), for blobs whose key holds only a digest of the id."""
        client = self.clients.get(namespace)
        if client is None:
            raise LookupError(f"no Temporal client for namespace {namespace!r}")
        async for execution in client.list_workflows('ExecutionStatus = "Running"'):
            yield execution.workflow_type, execution.id
