"""Activity results over CLAIMCHECK_MAX_PAYLOAD_BYTES fail once, as a DSL error.

Without this, the claim-check driver refuses the result while the SDK
encodes it, after the activity returned: the SDK reports that as a plain,
*retryable* ``PayloadTooLargeError``, so the activity ran again (an HTTP
call repeated, a script re-run) up to its retry limit, and the error that
reached the workflow named neither the task nor a DSL error type. Here the
result is measured first and, when too large, the activity fails
non-retryably with a ``runtime`` error naming the setting, the activity and
the task.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import activity_failure


class PayloadLimitInterceptor(Interceptor):
    def __init__(self, max_payload_bytes: int) -> None:
        self.max_payload_bytes = max_payload_bytes

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ResultSizeCheck(next, self.max_payload_bytes)


class _ResultSizeCheck(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, limit: int) -> None:
        super().__init__(next)
        self.limit = limit

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await self.next.execute_activity(input)
        # Measured exactly as the SDK will encode it (the payload converter's own
        # JSON, envelope included); the driver compares the same bytes.
        payloads = activity.payload_converter().to_payloads([result])
        size = payloads[0].ByteSize()
        if size > self.limit:
            name = activity.info().activity_type
            instance = _instance(input.args)
            where = f" of task {instance}" if instance else ""
            error = WorkflowError.of(
                "runtime",
                f"the result of {name}{where} is {size} bytes, over CLAIMCHECK_MAX_PAYLOAD_BYTES "
                f"({self.limit} bytes); raise the limit or make the task return less",
                title="Payload too large",
                instance=instance,
            )
            raise activity_failure(error, retryable=False)
        return result


def _instance(args: Any) -> str | None:
    """The task's JSON pointer, which every activity request of ours carries."""
    if not args:
        return None
    request = args[0]
    for key in ("instance", "where"):
        value = request.get(key) if isinstance(request, dict) else getattr(request, key, None)
        if isinstance(value, str) and value:
            return value
    return None
