"""zstd (our codec's choice) against gzip: ratio and speed on three kinds of payload.

.venv/bin/python bench/compression.py
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import time
from collections.abc import Callable

import zstandard
from _harness import make_document, table

SIZE = 2_000_000


def payloads() -> list[tuple[str, bytes]]:
    document = json.dumps(make_document(SIZE)).encode()
    words = [
        "the",
        "claim",
        "check",
        "pattern",
        "keeps",
        "history",
        "small",
        "while",
        "data",
        "flows",
    ]
    text = " ".join(words[(i * 7919) % len(words)] for i in range(SIZE // 5)).encode()[:SIZE]
    packed = zstandard.ZstdCompressor(level=19).compress(os.urandom(SIZE // 2) + text[: SIZE // 2])
    return [("JSON records", document), ("plain text", text), ("already compressed", packed)]


def best_of(fn: Callable[[], bytes], repeat: int = 5) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    rows = []
    codecs: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = [
        (
            "zstd 3 (ours)",
            zstandard.ZstdCompressor(level=3).compress,
            zstandard.ZstdDecompressor().decompress,
        ),
        ("gzip 6", lambda b: gzip.compress(b, 6), gzip.decompress),
        ("gzip 1", lambda b: gzip.compress(b, 1), gzip.decompress),
    ]
    for kind, data in payloads():
        for name, compress, decompress in codecs:
            t_c, packed = best_of(functools.partial(compress, data))
            t_d, _ = best_of(functools.partial(decompress, packed))
            mb = len(data) / 1e6
            rows.append(
                [
                    kind,
                    name,
                    f"{len(data) / len(packed):.2f}",
                    f"{mb / t_c:.0f} MB/s",
                    f"{mb / t_d:.0f} MB/s",
                ]
            )
    print(f"{SIZE / 1e6:.0f} MB inputs, best of 5")
    print(table(["payload", "codec", "ratio", "compress", "decompress"], rows))
    print("\nIncompressible payloads: the codec stores them as they are when zstd saves < 10%.")


if __name__ == "__main__":
    main()
