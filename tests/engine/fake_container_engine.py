"""A stand-in container engine CLI for ``run: container`` tests (no daemon on test machines).

It understands the subset of ``docker``/``podman`` the runner uses (``info``,
``run``, ``rm -f``), records every call as a JSON line in ``calls.jsonl``
next to the wrapper that starts it, and "runs" a container by executing its
command on the host: what is tested is everything the runner does around
the engine (argv, environment, stdin, exit codes, cleanup), not isolation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def main(record: Path, argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command == "info":
        if os.environ.get("FAKE_ENGINE_DOWN"):
            print(
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
                file=sys.stderr,
            )
            return 1
        return 0
    options: dict[str, list[str]] = {}
    flags: list[str] = []
    i = 0
    if command == "run":
        while i < len(rest) and rest[i].startswith("-"):
            if rest[i] in ("--rm", "-i"):
                flags.append(rest[i])
                i += 1
            else:
                options.setdefault(rest[i], []).append(rest[i + 1])
                i += 2
    env = {name: os.environ.get(name) for name in options.get("-e", [])}
    with record.open("a") as f:
        f.write(json.dumps({"argv": argv, "flags": flags, "options": options, "env": env}) + "\n")
    if command != "run":
        return 0
    image, container = rest[i], rest[i + 1 :]
    if not container:
        print(f"default command of {image}")
        return 0
    stdin = sys.stdin.buffer.read() if "-i" in flags else b""
    done = subprocess.run(container, input=stdin, env={**os.environ}, check=False)
    return done.returncode


def install(directory: Path, name: str = "docker", down: bool = False) -> Path:
    """An executable ``name`` in ``directory`` that runs this engine; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / name
    wrapper.write_text(
        "#!/bin/sh\n"
        + ("FAKE_ENGINE_DOWN=1 export FAKE_ENGINE_DOWN\n" if down else "")
        + f'exec {sys.executable} {Path(__file__)} {directory / "calls.jsonl"} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def calls(directory: Path) -> list[dict[str, Any]]:
    path = directory / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
