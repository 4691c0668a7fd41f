"""The CLI's logging set-up: the level, the libraries kept quiet and the records dropped.

Owns `configure_logging` (the root logger's level from --log-level or FRAUD_APP_LOG_LEVEL,
the redaction filter on every handler), QUIET_LOGGERS (libraries whose INFO lines bury the
result) and `after_interrupt` (py4j's tracebacks that only report a stop). Libraries never
configure logging; the CLI calls this once per command (pipelines.cli). What a redacted line
looks like is fraud_app.redaction's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fraud_app import interrupts
from fraud_app.errors import ConfigError
from fraud_app.redaction import RedactingFilter
from pipelines.cli_stops import TERMINATED

# libraries whose INFO lines bury the result (Great Expectations logs ~200 "Skipping
# registering function ..." lines per validate); they log WARNING and above only,
# unless --log-level DEBUG asks for everything
QUIET_LOGGERS = (
    "great_expectations",
    "py4j",
    "urllib3",
    "alembic",
    "mlflow",
    "posthog",
    "matplotlib",
    "numexpr",
    "filelock",
    "asyncio",
)


# loggers whose DEBUG records carry the data they move (never shown, whatever the level)
PROTOCOL_LOGGERS = ("py4j",)

# the levels --log-level and FRAUD_APP_LOG_LEVEL accept, any case (WARN: log4j's spelling,
# as in Spark's own logs). logging.getLevelName also took FATAL, NOTSET and "Level 5" words
LOG_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
LOG_LEVELS_TEXT = "DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL (any case)"


def configure_logging(level: str, source: str = "--log-level") -> None:
    """Root logger at `level`; the QUIET_LOGGERS at WARNING unless `level` is DEBUG, and
    PROTOCOL_LOGGERS at INFO at least.
    `source` names where the level came from (the flag or FRAUD_APP_LOG_LEVEL)."""
    numeric = LOG_LEVELS.get(level.strip().upper())
    if numeric is None:
        raise ConfigError(f"{source} is {level!r}; expected {LOG_LEVELS_TEXT}")
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(numeric)
    # a password or token a library puts in a line (MLflow's errors quote the request URL,
    # user information and all) is written as `***` (fraud_app.redaction), at every level
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(
            numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        )
    # py4j's DEBUG lines are its wire protocol: every string sent to the JVM and every
    # answer, one value a line without its key, so no filter can tell a secret there.
    # `--log-level DEBUG` wrote spark.conf's spark.authenticate.secret (and an S3 secret
    # key) in them as the session started, and again each time a step read it back
    for name in PROTOCOL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.INFO))
    # Some library modules set their own logger's level at import (Great Expectations'
    # data_context.types.base sets INFO), which overrides the parent's WARNING: a filter on
    # the root handlers drops their INFO records wherever they come from.
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, _QuietLibraries)]:
            handler.removeFilter(old)
        if numeric > logging.DEBUG:
            handler.addFilter(_QuietLibraries())


class _QuietLibraries(logging.Filter):
    """Passes WARNING and above, and anything not logged by a QUIET_LOGGERS library."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return not after_interrupt(record)
        name = record.name
        return not any(name == q or name.startswith(q + ".") for q in QUIET_LOGGERS)


def after_interrupt(record: logging.LogRecord) -> bool:
    """Whether `record` is py4j's report of a call that Ctrl-C broke: pyspark's SIGINT
    handler cancels the jobs through py4j while the interrupted call still reads its answer
    (`reentrant call`), and Ctrl-C reached Spark's JVM too (the process group): py4j logged
    two ERROR tracebacks on the root logger before the CLI's `error:` line; likewise every
    call that a SIGTERM's cleanup made after the JVM had gone (the signal reached it too). The consequence of the stop, not
    news (kept with --log-level DEBUG, whose handlers have no filter)."""
    if record.exc_info is None or "py4j" not in Path(record.pathname).parts:
        return False
    if TERMINATED.is_set():  # after a SIGTERM: each cleanup call that met the JVM gone
        return True
    exc = record.exc_info[1]
    seen = 0
    while exc is not None and seen < 10:
        # Terminated: a cleanup call (after a SIGTERM to the process group) that met the
        # JVM already gone; py4j logged it on the root logger as an ERROR traceback
        if isinstance(exc, (KeyboardInterrupt, interrupts.Terminated)) or (
            isinstance(exc, RuntimeError) and "reentrant call" in str(exc)
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
