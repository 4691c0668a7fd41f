"""Whole lines on stderr while a command runs: each thread's text reaches the stream a
line at a time, so the CLI's `error:` line always starts a line of its own.

`print(x)` writes `x` and then its newline in two calls. A server thread of pyspark
(socketserver's handle_error: forty dashes, a traceback, forty dashes) printing while the
main thread printed the `error:` line of a SIGTERM gave
`----------------------------------------error: fraud-app train was terminated ...`: a
line that operators' `grep '^error:'` (and the CLI tests) did not find. Here a thread's
text waits until its line is complete (or the thread flushes), then goes out in one write.
"""

from __future__ import annotations

import threading
from typing import TextIO


class WholeLines:
    """Wraps a text stream; every other attribute (fileno, encoding, isatty, ...) is the
    stream's own."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        # reentrant: a signal handler that logs runs on the main thread, maybe inside write
        self._lock = threading.RLock()
        self._parts: dict[int, str] = {}

    def write(self, text: str) -> int:
        key = threading.get_ident()
        with self._lock:
            pending = self._parts.pop(key, "") + text
            cut = pending.rfind("\n") + 1
            if cut:
                self.stream.write(pending[:cut])
            if cut < len(pending):
                self._parts[key] = pending[cut:]
        return len(text)

    def flush(self) -> None:
        """The calling thread's unfinished line goes out as it is (a prompt, a progress
        line that its writer flushes on purpose)."""
        with self._lock:
            rest = self._parts.pop(threading.get_ident(), "")
            if rest:
                self.stream.write(rest)
            self.stream.flush()

    def drain(self) -> None:
        """Every thread's unfinished line, each ended by a newline; then flush."""
        with self._lock:
            parts, self._parts = self._parts, {}
            for rest in parts.values():
                self.stream.write(rest + "\n")
            self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)
