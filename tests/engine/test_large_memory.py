"""Memory of a worker running one workflow over a 50 MB document (fault suite: ~10 s, 400 MB).

The worker runs in this process (tests/harness.py), so this process's RSS is
the worker's, plus the HTTP server's cached catalog, which is made before the
baseline is taken. Python's objects for a catalog of small records take ~2.9x
its JSON (48 MiB parsed: +137 MiB), and they are built from the JSON bytes (1x):
~3.9x is the floor of any reader that builds them, the activity's (which parses
the response) as the workflow's. The workflow's decode used to be ~5x: the
codec's inflated payload sat in the activation (1x) while ``payload.data``
was copied (1x) to build the objects from. The codec now leaves a large payload
compressed, and the workflow inflates it and drops the inflated payload before
parsing (claimcheck/payload_converter.py, engine/workflow_payloads.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc

import pytest

from tests.harness import Harness, workflow
from tests.httpserver import LocalHTTPServer
from tests.memory import current_rss, rss_growth

pytestmark = pytest.mark.faults

FIFTY_MB = 50_000_000


async def test_a_50_mb_document_run_peaks_under_5x_its_size_and_gives_the_memory_back(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    size = len(http_server.catalog(FIFTY_MB))
    flow = workflow(
        f"""
  - fetch:
      call: http
      with: {{method: get, endpoint: '{http_server.url}/big?size={FIFTY_MB}'}}
  - count:
      set: {{count: '${{ .products | length }}'}}
"""
    )
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = current_rss()
    with rss_growth() as growth:
        result = await harness.run(flow)
        peak = growth()
    assert result["count"] > 100_000
    # Before: 1.88 GB for one 50 MB payload (37x). Measured here: up to 6x with json.loads,
    # 5.1x-5.2x since from_json reads the bytes in place, 3.1x-4.2x since large payloads
    # are inflated where they are read (the highest is the activity's parse, whose freed
    # memory the workflow's decode sometimes reuses and sometimes not). The bound fails
    # one more whole copy of the document, or the old behaviour by far.
    assert peak <= 5 * size, f"peak RSS growth {peak / 2**20:.0f} MiB for {size / 2**20:.0f} MiB"
    # Given back after the run (malloc_trim shortly after a large run): before,
    # 1.38 GB stayed held.
    held = current_rss() - base
    for _ in range(50):
        if held <= size:
            break
        await asyncio.sleep(0.1)
        held = current_rss() - base
    assert held <= size, f"{held / 2**20:.0f} MiB still held after the run"
