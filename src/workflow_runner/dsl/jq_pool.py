"""A pool of long-lived jq evaluator processes, so a runaway expression can be killed.

The ``jq`` C extension holds the GIL for as long as a program runs and
cannot be interrupted: ``until(false; .)`` in-process froze the whole worker,
Ctrl-C included. Each evaluation here is sent to a child process
(:mod:`workflow_runner.dsl.jq_child`) over a pipe, and a child that overruns
its time budget is SIGKILLed and replaced. Memory is capped in the child
with ``RLIMIT_AS``.

Costs (2-core dev machine, small inputs, no other load): in-process jq took
~30 µs per evaluation; through the pool ~130 µs (a pipe round trip, JSON
text both ways, the child's Python loop). Plain paths (``.a.b``, ``$x``)
never get here (``expressions.try_fast_path``). How the caller waits matters
more than that: see the note above ``_LIBC``.

Lifetime: children are spawned from one dedicated thread, because
``PR_SET_PDEATHSIG`` fires when the *thread* that forked a child ends, and
worker threads come and go. A child also exits on EOF of its stdin, so it
never outlives this process. The last worker to stop kills them
(:meth:`EvaluatorPool.detach`); ``atexit`` kills any left.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workflow_runner.dsl import jq_child

CHILD_SCRIPT = Path(jq_child.__file__)
REQUEST, RESPONSE = jq_child.REQUEST, jq_child.RESPONSE
# Idle evaluators kept per process. Enough for every workflow task and local
# activity a worker runs at once: one spawned per evaluation and closed after it
# (Python start-up plus importing jq, ~50 ms) cut bench/interpreter_overhead.py,
# 8 workflows in flight, from 1.19x to 0.36x the hand-written baseline. An idle
# evaluator costs ~15 MB of memory. Busier moments still spawn extra ones.
MAX_IDLE = 32


class BudgetExceeded(Exception):
    """An evaluation ran out of time or memory, or its process died under it."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "time", "memory" or "crash"


class JqError(Exception):
    """jq itself reported an error (compile or runtime): the program is at fault."""


class EvaluatorStopped(Exception):
    """The pool was stopped under this evaluation (the worker is shutting down).

    Not the program's fault, so not a DSL error: the local activity that
    asked fails retryably and the run carries on elsewhere.
    """


@dataclass(eq=False)
class _Child:
    process: subprocess.Popen[bytes]
    to_child: int
    from_child: int
    interruptible: bool = False  # its caller is an activity, not workflow code
    stopped: bool = False  # killed by the pool's owner, not by its budget

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGKILL only: the thread reading its pipe sees EOF and closes the pipes itself."""
        self.stopped = True
        if self.alive():
            self.process.kill()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process.wait()


class EvaluatorPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._spawner: ThreadPoolExecutor | None = None
        self._users = 0
        self._draining = False  # the last worker stopped: evaluators are not kept

    # -- lifecycle --------------------------------------------------------------

    def _spawn(self) -> _Child:
        with self._lock:
            if self._spawner is None:
                self._spawner = ThreadPoolExecutor(1, thread_name_prefix="jq-evaluator-spawner")
            spawner = self._spawner
        return spawner.submit(self._spawn_here).result()

    @staticmethod
    def _spawn_here() -> _Child:
        process = subprocess.Popen(
            [sys.executable, "-I", str(CHILD_SCRIPT), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            close_fds=True,
        )
        assert process.stdin is not None and process.stdout is not None
        return _Child(process, process.stdin.fileno(), process.stdout.fileno())

    def warm(self, count: int = 1) -> None:
        """Start ``count`` idle evaluators now, so the first expression does not wait."""
        children = [self._spawn() for _ in range(count)]
        for child in children:
            self._release(child)

    def attach(self) -> None:
        """A worker starts using the pool: one evaluator is started ahead of need."""
        with self._lock:
            self._users += 1
            self._draining = False
            cold = not self._idle and not self._busy
        if cold:
            self.warm(1)

    def detach(self) -> None:
        """A worker is stopping; when it was the last one, evaluators go.

        Called *before* the worker drains: a local activity waiting on jq
        (budget up to EXPRESSION_TIMEOUT_SECONDS) would otherwise hold the
        shutdown, and Ctrl-C, for that long. Its evaluator is killed and it
        fails with :class:`EvaluatorStopped`. Evaluations from workflow code
        (at most ``INLINE_TIMEOUT_CAP``) are left to finish: failing them
        would fail the run.
        """
        with self._lock:
            self._users = max(self._users - 1, 0)
            if self._users:
                return
            self._draining = bool(self._busy)
            idle, self._idle = self._idle, []
            interrupted = [c for c in self._busy if c.interruptible]
        for child in idle:
            child.kill()
        for child in interrupted:
            child.stop()

    def shutdown(self) -> None:
        """Kill every evaluator (at exit); evaluations in flight fail with EvaluatorStopped."""
        with self._lock:
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            spawner, self._spawner = self._spawner, None
        for child in idle:
            child.kill()
        for child in busy:
            child.stop()
        if spawner is not None:
            spawner.shutdown(wait=False)

    def size(self) -> int:
        with self._lock:
            return len(self._idle) + len(self._busy)

    def pids(self) -> list[int]:
        with self._lock:
            return [c.process.pid for c in (*self._idle, *self._busy)]

    def _acquire(self) -> _Child:
        """An idle evaluator, or a new one. Not checked for life here: ``waitpid``
        would release the GIL (see below); a dead one fails the write instead."""
        with self._lock:
            child = self._idle.pop() if self._idle else None
            if child is not None:
                self._busy.add(child)
                return child
        child = self._spawn()
        with self._lock:
            self._busy.add(child)
        return child

    def _release(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
            keep = len(self._idle) < MAX_IDLE and not self._draining and not child.stopped
            if not self._busy:
                self._draining = False  # what was running at the last detach is done
            if keep:
                self._idle.append(child)
        if not keep:
            child.kill()

    def _discard(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
        child.kill()

    # -- evaluation -------------------------------------------------------------

    def _send(self, request: bytes, deadline: float, interruptible: bool) -> _Child:
        """Hands ``request`` to an evaluator; one that died while idle is replaced once."""
        for attempt in (1, 2):
            child = self._acquire()
            child.interruptible = interruptible
            try:
                if interruptible:
                    _write_all(child.to_child, request)
                else:
                    _write_all_holding_gil(child.to_child, request, deadline)
            except BrokenPipeError:
                self._discard(child)
                if child.stopped:
                    raise EvaluatorStopped(
                        "the jq evaluator was stopped: the worker is stopping"
                    ) from None
                if attempt == 2:
                    raise _death(child) from None
                continue
            except TimeoutError:
                self._discard(child)
                raise BudgetExceeded(
                    "time", "its evaluator did not take the input in time"
                ) from None
            except BaseException:
                self._discard(child)
                raise
            return child
        raise AssertionError("unreachable")

    def evaluate(
        self,
        program: str,
        input_text: str | bytes,
        *,
        timeout: float,
        memory_mb: int,
        interruptible: bool = False,
    ) -> str:
        """The first output of ``program`` on ``input_text`` as JSON text ("" when none).

        Raises :class:`JqError` for jq's own errors, :class:`BudgetExceeded`
        when ``timeout`` seconds or ``memory_mb`` MiB are exceeded, and
        :class:`EvaluatorStopped` when an ``interruptible`` evaluation's worker
        stops under it.
        """
        code = program.encode()
        data = input_text.encode() if isinstance(input_text, str) else input_text
        # One copy of the input into the request (the caller's JSON is already bytes).
        request = b"".join((REQUEST.pack(memory_mb, len(code), len(data)), code, data))
        deadline = time.monotonic() + timeout
        child = self._send(request, deadline, interruptible)
        try:
            if interruptible:
                status, body = _read_response(child.from_child, deadline)
            else:
                status, body = _read_response_holding_gil(child.from_child, deadline)
        except TimeoutError:
            self._discard(child)
            raise BudgetExceeded("time", f"still running after {timeout:g} s") from None
        except (EOFError, BrokenPipeError):
            self._discard(child)
            if child.stopped:
                raise EvaluatorStopped(
                    "the jq evaluator was stopped: the worker is stopping"
                ) from None
            raise _death(child) from None
        except BaseException:
            self._discard(child)  # interrupted mid-protocol: the child's state is unknown
            raise
        self._release(child)
        if status == b"o":
            return body.decode()
        if status == b"m":
            raise BudgetExceeded("memory", f"ran out of its {memory_mb} MiB")
        raise JqError(body.decode(errors="replace"))


def _death(child: _Child) -> BudgetExceeded:
    code = child.process.poll()
    if code is None:
        child.kill()
        code = child.process.returncode
    if code == -signal.SIGABRT:  # jq aborts when malloc fails under RLIMIT_AS
        return BudgetExceeded("memory", "ran out of memory (jq aborted)")
    how = f"was killed by signal {-code}" if code and code < 0 else f"exited with {code}"
    return BudgetExceeded("crash", f"the jq evaluator process {how}")


# Waiting on the pipe through ``os``/``select`` releases the GIL, and getting it
# back behind busy threads is slow: with the worker's other workflow tasks
# running Python, an evaluation took 0.7 ms (1 busy thread) to 25 ms (3), against
# 0.13 ms alone; bench/interpreter_overhead.py fell to 0.7x the hand-written
# baseline. Evaluations from workflow code therefore wait holding the GIL, like
# the in-process jq call did (libc through ``ctypes.PyDLL``, which keeps it),
# for at most their inline budget (1 s). Local activities, whose budget can be
# minutes, wait without it so the worker (and Ctrl-C) carry on meanwhile.
_LIBC = ctypes.PyDLL(None, use_errno=True)
_LIBC.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
_LIBC.poll.restype = ctypes.c_int
_LIBC.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_LIBC.read.restype = ctypes.c_ssize_t
_LIBC.write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
_LIBC.write.restype = ctypes.c_ssize_t


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


def _wait_holding_gil(fd: int, events: int, deadline: float) -> None:
    pollfd = _PollFd(fd, events, 0)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready = _LIBC.poll(ctypes.byref(pollfd), 1, max(int(remaining * 1000), 1))
        if ready > 0:
            return
        if ready < 0 and ctypes.get_errno() != errno.EINTR:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def _write_all_holding_gil(fd: int, data: bytes, deadline: float) -> None:
    offset = 0
    while offset < len(data):
        _wait_holding_gil(fd, select.POLLOUT, deadline)
        chunk = data[offset : offset + (1 << 16)]
        written = _LIBC.write(fd, chunk, len(chunk))
        if written < 0:
            if ctypes.get_errno() in (errno.EINTR, errno.EAGAIN):
                continue
            raise BrokenPipeError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        offset += written


def _read_response_holding_gil(fd: int, deadline: float) -> tuple[bytes, bytes]:
    buffer = bytearray()
    chunk = ctypes.create_string_buffer(1 << 16)
    want = RESPONSE.size
    while len(buffer) < want:
        _wait_holding_gil(fd, select.POLLIN, deadline)
        size = _LIBC.read(fd, chunk, min(max(want - len(buffer), 1), 1 << 16))
        if size < 0:
            if ctypes.get_errno() == errno.EINTR:
                continue
            raise EOFError
        if size == 0:
            raise EOFError
        buffer += chunk.raw[:size]
        if want == RESPONSE.size and len(buffer) >= want:
            want += RESPONSE.unpack_from(buffer)[1]
    status, _ = RESPONSE.unpack_from(buffer)
    return status, bytes(buffer[RESPONSE.size :])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_response(fd: int, deadline: float) -> tuple[bytes, bytes]:
    """One ``>cI``-framed response, in as few reads as it arrives in."""
    buffer = bytearray()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    want = RESPONSE.size
    while len(buffer) < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise TimeoutError
        chunk = os.read(fd, max(want - len(buffer), 1 << 16))
        if not chunk:
            raise EOFError
        buffer += chunk
        if want == RESPONSE.size and len(buffer) >= want:
            want += RESPONSE.unpack_from(buffer)[1]
    status, _ = RESPONSE.unpack_from(buffer)
    return status, bytes(buffer[RESPONSE.size :])


POOL = EvaluatorPool()
atexit.register(POOL.shutdown)
