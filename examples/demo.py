"""`make demo`: serve a 5 MB catalog on 127.0.0.1 and run the large-payload pipeline on it.

Everything is local: the HTTP service below, the embedded Temporal dev server
and the filesystem blob store. Nothing to configure, no network needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent


def make_catalog(size_bytes: int = 5 * 1024 * 1024) -> bytes:
    products, total, i = [], 0, 0
    categories = ["books", "tools", "garden", "toys", "food"]
    while total < size_bytes:
        product = {
            "id": i,
            "name": f"product-{i:07d}",
            "category": categories[i % 5],
            "price": round(1 + (i * 7919) % 500 / 3, 2),
            "stock": (i * 31) % 17,
            "description": f"item {i} " + "lorem ipsum dolor sit amet " * 3,
        }
        products.append(product)
        total += len(json.dumps(product))
        i += 1
    return json.dumps({"products": products}).encode()


class Handler(BaseHTTPRequestHandler):
    catalog = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(self.catalog)

    def do_POST(self) -> None:
        products = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["products"]
        summary = {"count": len(products), "categories": sorted({p["category"] for p in products})}
        self._reply(json.dumps(summary).encode())


def main() -> int:
    Handler.catalog = make_catalog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(
        f"serving a {len(Handler.catalog) / 1e6:.1f} MB catalog at {base}/catalog.json",
        file=sys.stderr,
    )
    run_input = json.dumps({"catalogUrl": f"{base}/catalog.json", "analyzeUrl": f"{base}/analyze"})
    try:
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "workflow_runner.cli.main",
                "run",
                str(HERE / "large-payload-pipeline.yaml"),
                "--input",
                run_input,
            ]
        )
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
