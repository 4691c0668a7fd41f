"""A function run on a thread of its own, its outcome handed back to the test."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def in_thread(
    fn: Callable[[], Any], *, name: str | None = None, timeout: float = 10.0
) -> Callable[[], Any]:
    """Start fn on a thread (named `name`); the returned callable joins it (at most
    `timeout` s) and returns or raises its outcome."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(timeout=timeout)
        assert not thread.is_alive(), f"thread {thread.name!r} hung"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result
