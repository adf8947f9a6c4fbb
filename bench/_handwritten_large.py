"""Hand-written SDK baselines for the large-document workloads of interpreter_overhead.py.

A module of its own so that the bench worker can pass it through the sandbox
exactly as it passes ``workflow_runner`` through for the DSL (a workflow
module that is not passed through is re-imported into every run's sandbox,
which would make the baseline, not the project, pay for it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow


@workflow.defn
class FetchDocument:
    """``call_http`` of a document, returned whole (as bench/large_fetch.yaml)."""

    @workflow.run
    async def run(self, url: str) -> Any:
        return await workflow.execute_activity(
            "call_http",
            {"method": "get", "uri": url, "output": "content"},
            start_to_close_timeout=timedelta(seconds=120),
        )


@workflow.defn
class CountItems:
    """``call_http`` of a catalog, then the count of its products (as bench/large_count.yaml)."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        document = await workflow.execute_activity(
            "call_http",
            {"method": "get", "uri": url, "output": "content"},
            start_to_close_timeout=timedelta(seconds=120),
        )
        return {"count": len(document["products"])}
