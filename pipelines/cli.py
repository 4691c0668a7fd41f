"""`fraud-app` command line: one subcommand per workflow step, all reading one config file.

Every command lives in `pipelines/commands/<name>.py` (the top of the house: commands
compose fraud_app steps, and dependencies point one way, pipelines -> fraud_app -> dlcore).
A command module exposes `add_arguments(parser)` and `run(args, config) -> int`; COMMANDS
lists them. The CLI is the only place that configures logging and prints.

This module owns COMMANDS, the parser and `main` (the order of a command's run: logging,
config, the checks before Spark, the command, its exit code). The parts it composes live
beside it: the logging set-up in pipelines.cli_logging, the checks before Spark in
pipelines.cli_preflight, SIGTERM and the stop lines in pipelines.cli_stops, the exit code
and `error:` line of a failure in pipelines.cli_failures.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import traceback

from fraud_app import interrupts, jsonout, settings
from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.redaction import shown_text
from pipelines.cli_failures import failed
from pipelines.cli_logging import LOG_LEVELS_TEXT, configure_logging
from pipelines.cli_preflight import check_flag_names, check_root
from pipelines.cli_stops import TERMINATED, on_sigterm, terminated
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
    "unlock": (
        "pipelines.commands.unlock",
        "list the locks and commit markers, who holds them; --force PATH clears a dead one",
    ),
    "prune": (
        "pipelines.commands.prune",
        "remove old runs, reports and cached models the `retention` rules no longer keep",
    ),
}


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fraud-app")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "(not installed: imported from a source tree)"


EPILOG = """\
exit codes: 0 done; 2 a mistake, a damaged file or a failed step (one `error:` line on
stderr); 3 done in part (`dashboards`: pages written, some sections not drawn, each a
`warning: not drawn:` line); 4 `unlock`: a lock or commit marker is refused to every run
until an operator clears it (`fraud-app unlock --force PATH`); 130 Ctrl-C; 141 stdout closed by its reader; 143 SIGTERM
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Only the main thread may set handlers (main() called from a thread keeps Python's);
    # the caller's handler comes back afterwards (main() called from Python, e.g. a test).
    own = threading.current_thread() is threading.main_thread()
    TERMINATED.clear()
    interrupts.forget()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if own else None
    py4j_level = logging.getLogger("py4j").level  # on_sigterm raises it
    stdout, stdout_errors = sys.stdout, jsonout.escape_unencodable(sys.stdout)
    stderr = sys.stderr
    whole = None if isinstance(stderr, WholeLines) else WholeLines(stderr)
    if whole is not None:  # the `error:` line starts a line of its own (whole_lines)
        sys.stderr = whole
    try:
        return _main(args)
    except BaseException:
        if TERMINATED.is_set():  # a cleanup step that failed after the signal: still a stop
            logging.getLogger(__name__).debug("after SIGTERM", exc_info=True)
            return terminated(args.command)
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


def _main(args: argparse.Namespace) -> int:
    try:
        if args.log_level:
            configure_logging(args.log_level)
        else:
            configure_logging(settings.log_level(), "environment variable FRAUD_APP_LOG_LEVEL")
    except ConfigError as exc:
        print(f"error: {shown_text(str(exc))}", file=sys.stderr)
        return 2
    for line in settings.unread_variables():  # a typo of FRAUD_APP_LOG_LEVEL was silent
        logging.getLogger(__name__).warning(line)
    settings.keep_mlflow_off_stdout()  # stdout carries the command's result only
    overrides = {"spark.master": args.master} if args.master else {}
    if args.env_archive:
        overrides["spark.env_archive"] = args.env_archive

    # User mistakes end in one line and exit code 2 (the README's "What happens to bad
    # input" lists them); anything else is a bug and keeps its traceback.
    config = None
    try:
        config = load_config(args.config, overrides, check_root=False)  # check_root below
        if args.master:
            from fraud_app.spark.session import check_master

            check_master(args.master)
        check_flag_names(args)
        module = importlib.import_module(args._module)
        if getattr(module, "USES_PATHS", True):
            check_root(config)
        return int(module.run(args, config) or 0)
    except BaseException as exc:
        if TERMINATED.is_set() and not isinstance(exc, SystemExit):
            # whatever a cleanup step raised after the signal (a Spark JVM that got the
            # signal too and is gone: ConnectionRefusedError, Py4JError) is still the stop;
            # it was reported as `error: Connection refused` with exit 2
            logging.getLogger(__name__).debug("after SIGTERM", exc_info=True)
            return terminated(args.command)
        return failed(args.command, exc, config)


if __name__ == "__main__":
    sys.exit(main())
