"""Child processes forked from a multiprocessing forkserver that imported the app once.

A test's child was `python -c CODE` or `python -m pipelines.cli ...`: a new interpreter
that imported MLflow and the app (`import mlflow` alone: ~3 s of CPU, 7 s of wall time at
load 8 on the 2-core machine) before the few calls it made. Here the forkserver (started
once per test process, single-threaded, no store opened, no JVM) imports PRELOAD once and
forks each child from it: a process of its own (its own pid, start time and environment,
killed for real, reaped by the forkserver), without the imports. One preload list for
every user: the forkserver reads it when it starts, once per test process.

The forkserver has one Python thread; the imports leave two native ones, OpenBLAS' pool
(numpy) and jemalloc's background thread (pyarrow), both of which register fork handlers
(pthread_atfork) that quiesce them (review44b). What a child does not get from its caller:
what Python and the preloaded modules read when the forkserver started them (its locale and
stdio encoding, PYTHON* variables, MLflow's MLFLOW_CONFIGURE_LOGGING and telemetry choice,
BLAS thread counts), and atexit handlers do not run at a child's exit (multiprocessing ends
it with os._exit): a test of any of those keeps `subprocess`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

PRELOAD = [
    "mlflow",
    "pipelines.cli",
    "fraud_app.tracking.registry",
    "fraud_app.tracking.jobs",
    "fraud_app.tracking.tune",
    "fraud_app.tracking.backtest",
    "pipelines.training.gate",
    "pipelines.training.lifecycle",
    "tests.forked",
    "tests.fraud_app.tracking.helpers",
    "tests.fraud_app.tracking.killed_children",
]
_CONTEXT = multiprocessing.get_context("forkserver")


def _child(out: Path, err: Path, cwd: Path, env: dict[str, str], target, args) -> None:
    """In the child: stdout and stderr to files, the caller's working directory and
    environment of the moment (the forkserver keeps those of its own start, an earlier
    test's), then `target(*args)`; its return value, an int, is the exit status."""
    for fd, path in ((1, out), (2, err)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    code = target(*args)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code or 0)


def run_forked(
    target: Callable[..., int | None],
    *args,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
) -> subprocess.CompletedProcess:
    """`target(*args)` in a forked child (cwd, env); its exit status (negative: the signal
    that ended it, as subprocess reports it), stdout and stderr. A child past `timeout`
    is killed and reported with the status None."""
    _CONTEXT.set_forkserver_preload(PRELOAD)  # read when the forkserver starts (once)
    with tempfile.TemporaryDirectory(prefix="forked-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        proc = _CONTEXT.Process(target=_child, args=(out, err, Path(cwd), dict(env), target, args))
        _start(proc, timeout)
        try:
            proc.join(timeout)
            code = proc.exitcode
        finally:  # past `timeout`, or the test stopped while it waited (^C): no child left
            if proc.exitcode is None:
                proc.kill()
                proc.join(60)
        texts = [p.read_text(errors="replace") if p.exists() else "" for p in (out, err)]
    return subprocess.CompletedProcess(["forked", target.__name__, *map(str, args)], code, *texts)


def start_forked(
    target: Callable[..., int | None], *args, cwd: Path, env: dict[str, str], out: Path,
    timeout: float,
):  # fmt: skip
    """`target(*args)` in a forked child (cwd, env), started and not waited for: its
    Process, which the caller ends (join, or a kill); its stdout and stderr to the files
    `out`/stdout and `out`/stderr. `timeout`: for the start alone (`_start`)."""
    _CONTEXT.set_forkserver_preload(PRELOAD)
    proc = _CONTEXT.Process(
        target=_child, args=(out / "stdout", out / "stderr", Path(cwd), dict(env), target, args)
    )
    _start(proc, timeout)
    return proc


def _start(proc, timeout: float) -> None:
    """`proc.start()`, which waits for the forkserver to fork the child and send its pid; the
    first call starts the forkserver, which makes PRELOAD's imports first (a child's imports,
    under the child's deadline before). A forkserver with no child after `timeout` (a hung
    import or fork) is SIGKILLed, which ends that wait (review44b)."""
    from multiprocessing import forkserver

    def kill() -> None:
        pid = forkserver._forkserver._forkserver_pid  # None until started
        if pid:
            os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        proc.start()
    except (EOFError, OSError) as exc:
        raise RuntimeError(f"the forkserver forked no child within {timeout:.0f} s") from exc
    finally:
        timer.cancel()


def cli(argv: list[str]) -> int:
    """`python -m pipelines.cli ARGV` in a forked child: the module's own entry, `sys.exit(
    main())`, and an exception that escapes it reported as Python reports one (the traceback
    through sys.excepthook, exit status 1), not multiprocessing's `Process ...:` report."""
    from pipelines.cli import main

    sys.argv = ["pipelines.cli", *argv]
    try:
        return main()
    except Exception:
        sys.excepthook(*sys.exc_info())
        return 1


def fraud_app(argv: list[str]) -> int:
    """`fraud-app ARGV` (= `python -m pipelines ARGV`) in a forked child: its entry,
    `pipelines.cli.entry` (a bug's traceback written as the logs are, exit 1)."""
    from pipelines.cli import entry

    sys.argv = ["fraud-app", *argv]
    return entry()


def fraud_app_in_own_group(argv: list[str]) -> int:
    """`fraud_app(argv)` in a session and process group of its own (the child's pid), so
    that a killpg of it ends the JVM the run starts too, as a kill -9 of a CLI run's
    process group does."""
    os.setsid()
    return fraud_app(argv)


def killed_by(kill_at: str | None, target, *args) -> None:
    """`target(*args)` with `mlflow.MlflowClient.<kill_at>` a SIGKILL of this process (None:
    `target` kills it itself)."""
    import mlflow

    if kill_at is not None:
        setattr(mlflow.MlflowClient, kill_at, sigkill)
    target(*args)


def sigkill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the process dies here, as under kill -9
