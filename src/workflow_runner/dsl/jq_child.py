"""The jq evaluator process: run as a script by :mod:`workflow_runner.dsl.jq_pool`.

jq runs inside a C call that holds the GIL and cannot be interrupted, so an
expression such as ``until(false; .)`` would freeze the worker (and Ctrl-C).
Here it freezes only this process, which the parent kills when its time
budget is spent. Memory is capped with ``RLIMIT_AS`` (this process's
address space at start-up plus the budget the request names): jq aborts
when an allocation fails, which the parent reports as the memory budget.

Standalone on purpose (stdlib and ``jq`` only, started with ``python -I
path/to/jq_child.py``): importing the ``workflow_runner`` package would cost
start-up time every time a killed evaluator is replaced.

Protocol (binary, over stdin/stdout), one request at a time:

- request: ``>III`` (memory budget in MiB, program length, input length),
  then the program text (UTF-8) and the input JSON text;
- response: ``>cI`` (status, length), then the body: ``o`` = the first
  output as JSON text (empty when the program yields nothing), ``e`` = a jq
  error message, ``m`` = out of memory.

The process exits on EOF (the parent closed the pipe or died); it also asks
the kernel to SIGKILL it when the parent dies (``PR_SET_PDEATHSIG``), since a
process busy in jq never reads its stdin.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import struct
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
REQUEST = struct.Struct(">III")
RESPONSE = struct.Struct(">cI")
_CACHE_SIZE = 1024


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: EOF on stdin still ends us when idle
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _address_space() -> int:
    """Bytes of virtual memory this process has mapped now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class _Reader:
    """Framed reads from a pipe, in as few ``read`` calls as the data arrives in."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def take(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            chunk = os.read(self.fd, max(size - len(self.buffer), 1 << 16))
            if not chunk:
                return None
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import jq

    jq.compile(".").input_text("null").first()  # warm up before measuring
    base = _address_space()
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    current_mb = -1
    programs: dict[str, Any] = {}
    reader, stdout = _Reader(sys.stdin.fileno()), sys.stdout.fileno()
    while True:
        header = reader.take(REQUEST.size)
        if header is None:
            return
        memory_mb, program_size, input_size = REQUEST.unpack(header)
        body = reader.take(program_size + input_size)
        if body is None:
            return
        if memory_mb != current_mb:
            limit = base + memory_mb * 1024 * 1024 if memory_mb else resource.RLIM_INFINITY
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            current_mb = memory_mb
        try:
            text = body[:program_size].decode()
            program = programs.get(text)
            if program is None:
                if len(programs) >= _CACHE_SIZE:
                    programs.clear()
                program = programs[text] = jq.compile(text)
            try:
                output = program.input_text(body[program_size:].decode()).first()
            except StopIteration:
                status, reply = b"o", b""
            else:
                status, reply = b"o", json.dumps(output).encode()
        except MemoryError:
            status, reply = b"m", b""
        except ValueError as e:
            status, reply = b"e", str(e).encode(errors="replace")
        del body
        _write_all(stdout, RESPONSE.pack(status, len(reply)) + reply)


if __name__ == "__main__":
    main()
