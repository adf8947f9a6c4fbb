"""Asking Temporal whether a blob's workflow run is still open (for GC)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode


class TemporalRunStatus:
    """``RunStatus`` backed by DescribeWorkflowExecution, one client per namespace."""

    def __init__(self, clients: dict[str, Client]) -> None:
        self.clients = clients

    async def is_open(self, namespace: str, workflow_id: str, run_id: str | None) -> bool | None:
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
