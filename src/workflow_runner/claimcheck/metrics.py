"""Prometheus metrics of the claim check, counted where the I/O happens.

Counted in the driver and the codec (never in workflow code), so a replay
counts only the blob operations it really performs. Labels carry the backend
(``filesystem``, ``s3``, ``memory``), never keys or payload data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Histogram

OFFLOADS = Counter("claimcheck_offloads_total", "Payloads stored in the blob store", ["backend"])
DEDUPLICATED = Counter(
    "claimcheck_offload_deduplicated_total",
    "Offloads skipped: the same content was already stored",
    ["backend"],
)
OFFLOADED_BYTES = Counter(
    "claimcheck_offloaded_bytes_total", "Bytes written to the blob store", ["backend"]
)
RETRIEVALS = Counter(
    "claimcheck_retrievals_total", "Payloads read back from the blob store", ["backend"]
)
RETRIEVED_BYTES = Counter(
    "claimcheck_retrieved_bytes_total", "Bytes read from the blob store", ["backend"]
)
ERRORS = Counter(
    "claimcheck_errors_total", "Failed blob operations", ["backend", "operation", "error"]
)
LATENCY = Histogram(
    "claimcheck_operation_seconds",
    "Blob operation latency",
    ["backend", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CODEC_BYTES_IN = Counter(
    "claimcheck_compression_input_bytes_total", "Bytes before zstd compression"
)
CODEC_BYTES_OUT = Counter(
    "claimcheck_compression_output_bytes_total", "Bytes after zstd compression"
)


@contextlib.contextmanager
def timed(backend: str, operation: str) -> Iterator[None]:
    """Observe latency; count the error type if the block raises."""
    started = time.perf_counter()
    try:
        yield
    except Exception as e:
        ERRORS.labels(backend, operation, type(e).__name__).inc()
        raise
    finally:
        LATENCY.labels(backend, operation).observe(time.perf_counter() - started)
