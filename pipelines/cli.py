"""`fraud-app` command line: one subcommand per workflow step, all reading one config file.

Every command lives in `pipelines/commands/<name>.py` (the top of the house: commands
compose fraud_app steps, and dependencies point one way, pipelines -> fraud_app -> dlcore).
A command module exposes `add_arguments(parser)` and `run(args, config) -> int`; COMMANDS
lists them. The CLI is the only place that configures logging and prints.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from dlcore.errors import DlcoreError
from fraud_app import interrupts, jsonout, settings
from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError, EnvironmentSetupError, FraudAppError
from fraud_app.redaction import RedactingFilter, shown_text
from fraud_app.uris import local_path, unwritable
from pipelines.whole_lines import WholeLines

# name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("pipelines.commands.generate", "write synthetic raw card transactions"),
    "etl": ("pipelines.commands.etl", "raw files -> canonical Parquet + quarantine"),
    "labels": (
        "pipelines.commands.labels",
        "late labels and 0 -> 1 corrections (chargebacks): a transaction_id,label[,label_time] "
        "feed -> canonical table",
    ),
    "validate": ("pipelines.commands.validate", "data checks (Great Expectations) + reports"),
    "features": ("pipelines.commands.features", "canonical table -> point-in-time feature table"),
    "train": (
        "pipelines.commands.train",
        "feature table -> balanced subsets -> distributed ensemble + report",
    ),
    "backtest": (
        "pipelines.commands.backtest",
        "K rolling folds: the ensemble and a GBT baseline per fold, metrics mean +- std",
    ),
    "tune": (
        "pipelines.commands.tune",
        "grid / random search of the training config, selected on validation AP",
    ),
    "run": (
        "pipelines.commands.run",
        "the whole workflow: [generate] etl validate features validate train score",
    ),
    "models": ("pipelines.commands.models", "registered ensemble versions, aliases, metrics"),
    "promote": ("pipelines.commands.promote", "make VERSION the champion (manual override)"),
    "score": ("pipelines.commands.score", "batch scoring of a date or date range -> scores/"),
    "evaluate": (
        "pipelines.commands.evaluate",
        "a model on any window: AUC, AP, budgets, card P@k",
    ),
    "demo-train": ("pipelines.commands.demo_train", "train a small dlcore MLP on a generated task"),
    "init": ("pipelines.commands.init", "write a starter config and a copy of the feature specs"),
    "pack-env": ("pipelines.commands.pack_env", "pack this Python environment for executors"),
    "export-onnx": (
        "pipelines.commands.export_onnx",
        "ensemble (directory or registry/run URI) -> one ONNX graph (fraud probability)",
    ),
    "import-onnx": (
        "pipelines.commands.import_onnx",
        "ONNX model (Gemm/MatMul, activations, BatchNorm, ...) -> ensemble directory",
    ),
    "dashboards": (
        "pipelines.commands.dashboards",
        "render the HTML dashboards (training, quality, data, scoring) from saved reports",
    ),
    "inspect": ("pipelines.commands.inspect", "check a saved model or checkpoint, print a summary"),
    "prune": (
        "pipelines.commands.prune",
        "remove old runs, reports and cached models the `retention` rules no longer keep",
    ),
}


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
    """Root logger at `level`; the QUIET_LOGGERS at WARNING unless `level` is DEBUG.
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
    if _TERMINATED.is_set():  # after a SIGTERM: each cleanup call that met the JVM gone
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


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fraud-app")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "(not installed: imported from a source tree)"


EPILOG = """\
exit codes: 0 done; 2 a mistake, a damaged file or a failed step (one `error:` line on
stderr); 3 done in part (`dashboards`: pages written, some sections not drawn, each a
`warning: not drawn:` line); 130 Ctrl-C; 141 stdout closed by its reader; 143 SIGTERM
(stopped cleanly: lock released, nothing half-written). stdout carries the command's result
only.

environment variables read (README: "Environment variables"):
{variables}
  DLCORE_BACKEND, DLCORE_NUM_THREADS, DLCORE_TUNE_MALLOC, DLCORE_TRANSPORT, DLCORE_TOPOLOGY,
  DLCORE_SHM_SIGNAL, DLCORE_CRC32 (dlcore: backend, BLAS threads, malloc tuning, all-reduce
    transport, topology, shared-memory signal and CRC-32 code)
Precedence: defaults < config file < flags.""".format(
    variables="\n".join(f"  {v.name}: {v.meaning} [default: {v.default}]"
                        for v in settings.VARIABLES)
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraud-app", description=__doc__.splitlines()[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"fraud-app {_installed_version()}",
        help="the installed fraud-app version (check a wheel on a node or in an archive)",
    )  # fmt: skip
    _global_options(parser, None)
    # the same options after COMMAND (`fraud-app etl -c prod.yaml` was "unrecognized
    # arguments: -c"); SUPPRESS: one left out there keeps the value given before COMMAND
    after = argparse.ArgumentParser(add_help=False)
    _global_options(after, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, parents=[after])
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-c", "--config", default=default, help="YAML config file (default: built-in defaults)"
    )
    parser.add_argument(
        "--master", default=default, help="Spark master URL (overrides spark.master in the config)"
    )
    parser.add_argument(
        "--env-archive",
        default=default,
        help="packed environment for executors (`fraud-app pack-env`; overrides spark.env_archive)",
    )
    parser.add_argument(
        "--log-level",
        default=default,
        help=f"{LOG_LEVELS_TEXT} (default: env FRAUD_APP_LOG_LEVEL or INFO)",
    )


_TERMINATED = threading.Event()  # set by the first SIGTERM, even if cleanup then fails


def _on_sigterm(signum: int, frame) -> None:
    """SIGTERM -> Terminated in the main thread, so every cleanup path runs (locks released,
    staged outputs discarded, the MLflow run marked FAILED); Python's default ended the
    process at once, leaving the lock file and staging directories behind. Held back
    while an output is being swapped in (fraud_app.interrupts.critical)."""
    _TERMINATED.set()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    # A signal sent to the process group stops Spark's JVM too: py4j then logs each failed
    # call of the cleanup at ERROR with a traceback, the consequence of the stop, not news.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    interrupts.stop(signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Only the main thread may set handlers (main() called from a thread keeps Python's);
    # the caller's handler comes back afterwards (main() called from Python, e.g. a test).
    own = threading.current_thread() is threading.main_thread()
    _TERMINATED.clear()
    interrupts.forget()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if own else None
    py4j_level = logging.getLogger("py4j").level  # _on_sigterm raises it
    stdout, stdout_errors = sys.stdout, jsonout.escape_unencodable(sys.stdout)
    stderr = sys.stderr
    whole = None if isinstance(stderr, WholeLines) else WholeLines(stderr)
    if whole is not None:  # the `error:` line starts a line of its own (whole_lines)
        sys.stderr = whole
    try:
        return _main(args)
    except BaseException:
        if _TERMINATED.is_set():  # a cleanup step that failed after the signal: still a stop
            logging.getLogger(__name__).debug("after SIGTERM", exc_info=True)
            return _terminated(args.command)
        raise
    finally:
        if own:
            signal.signal(signal.SIGTERM, previous)
            logging.getLogger("py4j").setLevel(py4j_level)
        if stdout_errors is not None:
            stdout.reconfigure(errors=stdout_errors)
        if whole is not None:
            whole.drain()
            if sys.stderr is whole:
                sys.stderr = stderr


def entry() -> int:
    """The `fraud-app` console script and `python -m pipelines`: `main()`, and for a bug (an
    exception no command turns into an `error:` line) Python's traceback and exit 1 as
    before, but written as the logs are (fraud_app.redaction.shown_text): an exception's
    text may quote a tracking URI with its password, or a control sequence from the data."""
    try:
        return main()
    except Exception:
        sys.stderr.write(shown_text(traceback.format_exc()))
        return 1


def _terminated(command: str) -> int:
    print(_stop_message(command, "terminated (SIGTERM)"), file=sys.stderr)
    return 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM


def _stop_message(command: str, how: str) -> str:
    """The `error:` line of a stopped command, true to what it had committed: a stop held
    back until a commit was done said "before it finished: nothing is left half-written"
    while that output was complete (fraud_app.interrupts.progress)."""
    done, cut = interrupts.progress()
    if cut:
        return (
            f"error: fraud-app {command} was {how} inside a commit: not committed: "
            f"{'; '.join(cut)}" + (f"; committed before it: {'; '.join(done)}" if done else "")
        )
    if done:
        return (
            f"error: fraud-app {command} was {how} after it committed {'; '.join(done)}; what "
            "came after it was not done (nothing of it is half-written; its summary was not "
            "printed) and its locks are released"
        )
    locks = " and its locks are released" if how.startswith("terminated") else ""
    return (
        f"error: fraud-app {command} was {how} before it finished: nothing is left "
        f"half-written (outputs are staged, then swapped in){locks}; run it again (an "
        "interrupted `train --run NAME` resumes from its last checkpoint)"
    )


def _main(args: argparse.Namespace) -> int:
    try:
        if args.log_level:
            configure_logging(args.log_level)
        else:
            configure_logging(settings.log_level(), "environment variable FRAUD_APP_LOG_LEVEL")
    except ConfigError as exc:
        print(f"error: {shown_text(str(exc))}", file=sys.stderr)
        return 2
    settings.keep_mlflow_off_stdout()  # stdout carries the command's result only
    overrides = {"spark.master": args.master} if args.master else {}
    if args.env_archive:
        overrides["spark.env_archive"] = args.env_archive

    # User mistakes end in one line and exit code 2 (the README's "What happens to bad
    # input" lists them); anything else is a bug and keeps its traceback.
    config = None
    try:
        config = load_config(args.config, overrides)
        if args.master:
            from fraud_app.spark.session import check_master

            check_master(args.master)
        check_flag_names(args)
        module = importlib.import_module(args._module)
        if getattr(module, "USES_PATHS", True):
            check_root(config)
        return int(module.run(args, config) or 0)
    except BaseException as exc:
        if _TERMINATED.is_set() and not isinstance(exc, SystemExit):
            # whatever a cleanup step raised after the signal (a Spark JVM that got the
            # signal too and is gone: ConnectionRefusedError, Py4JError) is still the stop;
            # it was reported as `error: Connection refused` with exit 2
            logging.getLogger(__name__).debug("after SIGTERM", exc_info=True)
            return _terminated(args.command)
        return _failed(args.command, exc, config)


def _failed(command: str, exc: BaseException, config: AppConfig | None = None) -> int:
    """The exit code and the one `error:` line of a command that raised `exc`; re-raises a
    bug (keeps its traceback)."""
    if not isinstance(exc, (interrupts.Terminated, SystemExit)) and not _interrupted(exc):
        from pipelines.exhausted import exhausted_line

        # a full disk, a quota, too many open files: whether Python, Spark's JVM, SQLite or
        # a wrapping TrackingError said it (a Java trace, "(OSError)" without the path)
        line = exhausted_line(command, exc, config)
        if line is not None:
            logging.getLogger(__name__).debug("%s failed", command, exc_info=True)
            print(f"error: {shown_text(line)}", file=sys.stderr)
            return 2
    if isinstance(exc, (FraudAppError, DlcoreError)):
        print(f"error: {shown_text(str(exc))}", file=sys.stderr)
        return 2
    if _interrupted(exc):
        # it said `error: interrupted`, without what a re-run finds (SIGTERM's line does).
        # Also an error raised while the KeyboardInterrupt was handled: pyspark's SIGINT
        # handler raises it inside a py4j call, whose clean-up then fails with "Py4JError:
        # Gateway must be connected to send cancel cmd." (exit 1 and a traceback before)
        print(_stop_message(command, "interrupted (Ctrl-C, SIGINT)"), file=sys.stderr)
        return 130
    if isinstance(exc, interrupts.Terminated):
        return _terminated(command)
    if isinstance(exc, BrokenPipeError):  # `fraud-app models --json | head`: no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail too
        return 141  # 128 + SIGPIPE, what a shell reports for `... | head`
    from fraud_app.etl.table_read import damaged_file_error
    from fraud_app.scoring.tasks import from_task_error

    # a damaged file met by an action after its table was opened; a fraud_app error a
    # Spark task raised (a PythonException whose last line it is), outside task_errors
    found = damaged_file_error(exc) or from_task_error(exc)
    if found is not None:
        logging.getLogger(__name__).debug("%s failed", command, exc_info=True)
        print(f"error: {shown_text(str(found))}", file=sys.stderr)
        return 2
    if isinstance(exc, OSError):  # a path given that cannot be written or read (no such
        # directory, a read-only file system, disk full): one line naming it, traceback at DEBUG
        logging.getLogger(__name__).debug("%s failed", command, exc_info=True)
        print(f"error: {shown_text(_os_error(exc))}", file=sys.stderr)
        return 2
    raise exc


def _interrupted(exc: BaseException) -> bool:
    """Whether `exc` is a KeyboardInterrupt or was raised while one was handled."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _os_error(exc: OSError) -> str:
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    what = exc.strerror or str(exc) or type(exc).__name__
    if not where:
        return f"{what} ({type(exc).__name__})"
    return f"{where}: {what}; check that the path exists and that this user can write there"


# flags whose value becomes part of a file name (a run's model directory, report, job id)
_NAME_FLAGS = {"run": "--run", "run_name": "--run-name", "job_id": "--job-id"}


def check_flag_names(args: argparse.Namespace) -> None:
    """Before Spark starts: a run name such as `../x` would write outside paths.root."""
    from fraud_app.naming import check_name

    for attr, flag in _NAME_FLAGS.items():
        if getattr(args, attr, None) is not None:
            check_name(getattr(args, attr), flag)
    if args.command == "evaluate" and args.name is not None:
        check_name(args.name, "--name")


def check_root(config: AppConfig) -> None:
    """paths.root must be a directory we can create and write (remote URIs are left to Spark)."""
    root = config.paths.root
    path = local_path(root)
    if path is None:  # hdfs:/x as much as hdfs://nn/x (fraud_app.uris)
        return
    exc = unwritable(path)
    if exc is not None:
        raise EnvironmentSetupError(
            f"paths.root {root!r} is not a writable directory ({exc.strerror or exc}); set "
            "paths.root in the config to a directory you can write"
        ) from exc


if __name__ == "__main__":
    sys.exit(main())
