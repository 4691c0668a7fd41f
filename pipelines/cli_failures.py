"""The exit code and the one `error:` line of a command that raised.

Owns the mapping of an exception to what the CLI reports: 2 and one line for a user's
mistake, a damaged file, an exhausted resource or a path that cannot be written; 130 / 143
for a stop; 141 for a closed stdout; a bug re-raised with its traceback. It does not own the
wording of an exhausted resource (pipelines.exhausted), of a stop (pipelines.cli_stops) or of
the errors themselves (fraud_app.errors and the code that raises them).
"""

from __future__ import annotations

import logging
import os
import sys

from dlcore.errors import DlcoreError
from fraud_app import interrupts
from fraud_app.config import AppConfig
from fraud_app.errors import FraudAppError
from fraud_app.redaction import shown_text
from pipelines.cli_stops import interrupted, stop_message, terminated

# the name it logged under before the session 37 split (the CLI prints %(name)s)
logger = logging.getLogger("pipelines.cli")


def failed(command: str, exc: BaseException, config: AppConfig | None = None) -> int:
    """The exit code and the one `error:` line of a command that raised `exc`; re-raises a
    bug (keeps its traceback)."""
    if not isinstance(exc, (interrupts.Terminated, SystemExit)) and not interrupted(exc):
        from pipelines.exhausted import exhausted_line

        # a full disk, a quota, too many open files: whether Python, Spark's JVM, SQLite or
        # a wrapping TrackingError said it (a Java trace, "(OSError)" without the path)
        line = exhausted_line(command, exc, config)
        if line is not None:
            return _error_line(command, line)
    if isinstance(exc, (FraudAppError, DlcoreError)):
        print(f"error: {shown_text(str(exc))}", file=sys.stderr)
        return 2
    if interrupted(exc):
        # it said `error: interrupted`, without what a re-run finds (SIGTERM's line does).
        # Also an error raised while the KeyboardInterrupt was handled: pyspark's SIGINT
        # handler raises it inside a py4j call, whose clean-up then fails with "Py4JError:
        # Gateway must be connected to send cancel cmd." (exit 1 and a traceback before)
        print(stop_message(command, "interrupted (Ctrl-C, SIGINT)"), file=sys.stderr)
        return 130
    if isinstance(exc, interrupts.Terminated):
        return terminated(command)
    if isinstance(exc, BrokenPipeError):  # `fraud-app models --json | head`: no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail too
        return 141  # 128 + SIGPIPE, what a shell reports for `... | head`
    line = _damaged_or_path_line(exc)
    if line is not None:
        return _error_line(command, line)
    raise exc


def _error_line(command: str, line: str) -> int:
    """Exit 2 with `line` as the one `error:` line; the traceback at DEBUG (called while the
    exception is handled, so `exc_info` is it)."""
    logger.debug("%s failed", command, exc_info=True)
    print(f"error: {shown_text(line)}", file=sys.stderr)
    return 2


def _damaged_or_path_line(exc: BaseException) -> str | None:
    """The line of a failure met outside the command's own checks: a damaged file, a
    fraud_app error raised in a Spark task, a path that cannot be used; None: a bug."""
    from fraud_app.etl.table_read import damaged_file_error
    from fraud_app.scoring.tasks import from_task_error

    # a damaged file met by an action after its table was opened; a fraud_app error a
    # Spark task raised (a PythonException whose last line it is), outside task_errors
    found = damaged_file_error(exc) or from_task_error(exc)
    if found is not None:
        return str(found)
    # a tracking request past its total deadline, as MLflow re-raised it (an MlflowException
    # a command did not turn into a TrackingError)
    if "fraud_app.tracking.http_deadline" in sys.modules:
        from fraud_app.tracking.http_deadline import deadline_exceeded

        if (late := deadline_exceeded(exc)) is not None:
            return str(late)
    if isinstance(exc, OSError):  # a path given that cannot be written or read (no such
        # directory, a read-only file system, disk full): one line naming it, traceback at DEBUG
        return _os_error(exc)
    return None


def _os_error(exc: OSError) -> str:
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    what = exc.strerror or str(exc) or type(exc).__name__
    if not where:
        return f"{what} ({type(exc).__name__})"
    return f"{where}: {what}; check that the path exists and that this user can write there"
