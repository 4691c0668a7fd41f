"""Errors raised inside Spark tasks, back as the fraud_app error they were.

A fraud_app error raised in a Python worker reaches the driver wrapped in a
PythonException / Py4JJavaError whose text holds the worker's traceback. The CLI
prints one line per user error, so `task_errors()` finds the original
`fraud_app.errors.<Class>: <message>` line in that text and raises that class again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fraud_app import errors

_PATTERN = re.compile(r"fraud_app\.errors\.(\w+): (.+)")


def from_task_error(exc: BaseException) -> errors.FraudAppError | None:
    """The fraud_app error a task raised, if `exc` wraps one (else None)."""
    if isinstance(exc, errors.FraudAppError):
        return None
    match = _PATTERN.search(str(exc))
    if not match:
        return None
    cls = getattr(errors, match.group(1), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.FraudAppError)):
        return None
    return cls(match.group(2).strip())


@contextmanager
def task_errors() -> Iterator[None]:
    """Re-raise a fraud_app error from a Spark task as itself (one line, no JVM trace)."""
    try:
        yield
    except Exception as exc:
        original = from_task_error(exc)
        if original is None:
            raise
        raise original from None
