"""A `for` over 1,000,000 items completes, yielding to Temporal between batches (issue 10, item 10).

Slow (about 40 s here), hence the fault suite. Before: the loop ran in one
workflow task, tripped Temporal's 2 s deadlock detector, and the retried task
tripped it again, for ever.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.harness import Harness, workflow
from workflow_runner.engine.limits import WORK_PER_YIELD


async def test_a_for_over_a_million_items_completes_with_a_small_history(harness: Harness) -> None:
    count = 1_000_000
    text = workflow(
        "  - loop:\n"
        "      for:\n"
        "        in: ${ .items }\n"
        "      do:\n"
        "        - keep:\n"
        "            set:\n"
        "              last: ${ $item }\n"
    )
    began = time.monotonic()
    handle = await harness.start(text, {"items": list(range(count))})
    assert await asyncio.wait_for(handle.result(), 600) == {"last": count - 1}
    took = time.monotonic() - began
    history = await handle.fetch_history()
    counts = Counter(str(e.WhichOneof("attributes")) for e in history.events)
    size = history.to_json().encode().__len__()
    print(f"\n1,000,000 items: {took:.1f} s, {len(history.events)} events, ~{size} bytes")
    assert counts["workflow_task_failed_event_attributes"] == 0
    assert counts["marker_recorded_event_attributes"] >= count // WORK_PER_YIELD
    assert len(history.events) < 2_000  # Temporal refuses a history over 51,200 events
