"""Peak resident memory of this process while a block runs, sampled from /proc.

RSS rather than tracemalloc: it sees native buffers too (zlib, zstd), and
tracemalloc must not run while Temporal's Rust threads attach to Python
(CPython 3.11 crashes in ``tracemalloc_raw_alloc`` under ``PyGILState_Ensure``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@contextlib.contextmanager
def rss_growth(interval: float = 0.005) -> Iterator[Callable[[], int]]:
    """Yields a function giving the peak RSS growth (bytes) since the block began."""
    base = current_rss()
    peak = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(interval):
            peak = max(peak, current_rss())

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield lambda: max(peak, current_rss()) - base
    finally:
        stop.set()
        sampler.join()
