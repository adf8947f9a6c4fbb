"""Plain Temporal workflows that move big documents, to test the claim check alone.

Importable by the test process and by ``tests/e2e_worker.py`` (a worker in a
separate process that tests kill with SIGKILL).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

RETRY = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200))
# For fault tests: keep retrying until the fault is repaired.
PATIENT = RetryPolicy(
    maximum_attempts=0,
    initial_interval=timedelta(milliseconds=300),
    maximum_interval=timedelta(seconds=1),
)


def make_document(size_bytes: int, seed: int = 7) -> dict[str, Any]:
    """A JSON document of about ``size_bytes`` that zstd shrinks only ~2-3x."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
    items: list[dict[str, Any]] = []
    total = 0
    while total < size_bytes:
        text = "".join(rng.choices(alphabet, k=200))
        items.append({"id": len(items), "text": text})
        total += 230
    return {"items": items}


def document_digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@activity.defn
async def produce_document(size_bytes: int) -> dict[str, Any]:
    return make_document(size_bytes)


@activity.defn
async def digest_document(doc: dict[str, Any]) -> str:
    return document_digest(doc)


@workflow.defn
class PassLargeDocument:
    """Activity → workflow → activity: without the claim check, history holds it twice."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(
        self, size_bytes: int, wait_for_signal: bool = False, patient: bool = False
    ) -> str:
        retry = PATIENT if patient else RETRY
        doc = await workflow.execute_activity(
            produce_document,
            size_bytes,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=retry,
        )
        if wait_for_signal:
            await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(
            digest_document,
            doc,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=retry,
        )

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn
class DigestInput:
    """The workflow input itself is large (offloaded by the client)."""

    @workflow.run
    async def run(self, doc: dict[str, Any]) -> str:
        return await workflow.execute_activity(
            digest_document,
            doc,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )


WORKFLOWS = [PassLargeDocument, DigestInput]
ACTIVITIES: list[Callable[..., Any]] = [produce_document, digest_document]
