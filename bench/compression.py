"""zstd (our codec's choice) against gzip: ratio and speed on three kinds of payload.

The codecs run interleaved (``_harness.interleaved``): each round compresses
and decompresses the same bytes with every codec (best of 3 within the round),
and speeds are compared with gzip 6 round by round.

.venv/bin/python bench/compression.py [--rounds N]
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import os
import sys
import time
from collections.abc import Callable

import zstandard
from _harness import interleaved, make_document, rounds_note, table

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


def best_of(fn: Callable[[], bytes], repeat: int = 3) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


BASELINE = "gzip 6"
FORMATS = {"ratio": "{:.2f}", "compress": "{:.0f} MB/s", "decompress": "{:.0f} MB/s"}


def measure(
    data: bytes, compress: Callable[[bytes], bytes], decompress: Callable[[bytes], bytes]
) -> dict[str, float]:
    t_c, packed = best_of(functools.partial(compress, data))
    t_d, _ = best_of(functools.partial(decompress, packed))
    mb = len(data) / 1e6
    return {"ratio": len(data) / len(packed), "compress": mb / t_c, "decompress": mb / t_d}


async def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    codecs: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
        "zstd 3 (ours)": (
            zstandard.ZstdCompressor(level=3).compress,
            zstandard.ZstdDecompressor().decompress,
        ),
        BASELINE: (lambda b: gzip.compress(b, 6), gzip.decompress),
        "gzip 1": (lambda b: gzip.compress(b, 1), gzip.decompress),
    }
    rows = []
    last = None
    for kind, data in payloads():
        contenders = {
            name: functools.partial(measure, data, compress, decompress)
            for name, (compress, decompress) in codecs.items()
        }
        last = await interleaved(rounds, contenders)
        ratios = [("compress", BASELINE), ("decompress", BASELINE)]
        rows += [[kind, *row] for row in last.rows(FORMATS, ratios)]
    print(f"{SIZE / 1e6:.0f} MB inputs, best of 3 per round")
    headers = ["payload", "codec", *FORMATS, "compress ÷ gzip 6", "decompress ÷ gzip 6"]
    print(table(headers, rows))
    if last is not None:
        print(rounds_note(last))
    print("\nIncompressible payloads: the codec stores them as they are when zstd saves < 10%.")


if __name__ == "__main__":
    asyncio.run(main())
