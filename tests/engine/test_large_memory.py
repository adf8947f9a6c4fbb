"""Memory of a worker running one workflow over a 50 MB document (fault suite: ~10 s, 400 MB).

The worker runs in this process (tests/harness.py), so this process's RSS is
the worker's, plus the HTTP server's cached catalog, which is made before the
baseline is taken. Python's objects for a catalog of small records take ~3x
its JSON (48 MiB parsed: +143 MiB), which sets the floor. The peak is the
workflow's decode: the SDK hands it the payload in a protobuf message (1x),
reading ``payload.data`` copies it (1x), and the objects are built from that
copy (3x): ~5x. ``json.loads`` added a sixth: it decodes the bytes into a str
first, which orjson does not (dsl/json_values.py ``from_json``).
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


async def test_a_50_mb_document_run_peaks_under_8x_its_size_and_gives_the_memory_back(
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
    # 5.1x-5.2x (244-251 MiB) since from_json reads the bytes in place. The 4x is
    # below what the SDK's payload path allows (see the module docstring). The bound fails
    # one more whole copy of the document, or the old behaviour by far.
    assert peak <= 6 * size, f"peak RSS growth {peak / 2**20:.0f} MiB for {size / 2**20:.0f} MiB"
    # Given back after the run (malloc_trim shortly after a large run): before,
    # 1.38 GB stayed held.
    held = current_rss() - base
    for _ in range(50):
        if held <= size:
            break
        await asyncio.sleep(0.1)
        held = current_rss() - base
    assert held <= size, f"{held / 2**20:.0f} MiB still held after the run"
