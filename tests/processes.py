"""Reading from a child process without hanging the suite when it never answers."""

from __future__ import annotations

import threading
from typing import IO


def read_line(stream: IO[str] | None, within: float = 60.0) -> str:
    """The next line of ``stream``; fails the test after ``within`` seconds instead of hanging.

    ``readline`` on a pipe blocks forever if the child stalls: the read runs
    in a daemon thread that is abandoned (with the child) on timeout.
    """
    assert stream is not None, "the process was started without this pipe"
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(within)
    if reader.is_alive():
        raise AssertionError(f"the process printed no line within {within} s")
    return line[0]
