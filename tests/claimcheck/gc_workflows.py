"""Workflows for the GC tests: their data must survive GC while they wait for a signal.

In a module of their own (not a test module) so the workflow sandbox can
import them without pytest.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.e2e_workflows import RETRY, digest_document


@workflow.defn
class HoldInputUntilSignalled:
    """A large input (offloaded by the client) is needed only after the signal."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, doc: dict[str, Any]) -> str:
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(
            digest_document,
            doc,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
