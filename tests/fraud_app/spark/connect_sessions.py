"""Spark Connect sessions for the tests: a real local Connect server (one JVM, local[1]) in
a child process, and a client session to an address where nothing listens (a step that
makes no RPC before refusing Connect is refused without a server).

`SparkSession.builder.remote(url).create()` sets SPARK_CONNECT_MODE_ENABLED in this
process: while it is set, `pyspark.sql.functions` build Connect columns. `connect_mode()`
restores the variable afterwards, so the classic `spark` fixture of later test files in the
same process builds classic columns again.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyspark

ROOT = Path(__file__).resolve().parents[3]
STARTED = re.compile(r"Spark Connect server started at: (\S+):(\d+)")
MODE = "SPARK_CONNECT_MODE_ENABLED"


class ServerDidNotStart(RuntimeError):
    """The Connect server did not say it listens: its last log lines say why."""


@contextlib.contextmanager
def connect_mode() -> Iterator[None]:
    """SPARK_CONNECT_MODE_ENABLED as it was before the block (module doc)."""
    before = os.environ.get(MODE)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MODE, None)
        else:
            os.environ[MODE] = before


def client(url: str, *, retries: bool = True):
    """A new Spark Connect session of `url` (what an analyst's `remote(url)` builds).
    retries=False: an RPC to an absent server fails at once instead of retrying for the
    10 minutes of PySpark's default policy."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(url).create()
    if not retries:
        session.client.set_retry_policies([])
    return session


@contextlib.contextmanager
def unreachable_url() -> Iterator[str]:
    """sc://127.0.0.1:P where P is bound and not listening: a connection is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"sc://127.0.0.1:{held.getsockname()[1]}"


@contextlib.contextmanager
def connect_server(timeout: float = 240.0) -> Iterator[str]:
    """A local Spark Connect server (pyspark's own spark-submit, local[1]) for the block;
    yields its sc:// URL. Its Python workers import this checkout (PYTHONPATH), as a
    cluster's would import the installed fraud_app. ServerDidNotStart when it does not
    listen within `timeout` s (a loaded 2-CPU machine starts a JVM in 10-60 s)."""
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    for key in ("SPARK_REMOTE", MODE, "SPARK_HOME"):  # a server of pyspark's own Spark
        env.pop(key, None)
    cmd = [
        str(submit),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[1]",
        "--driver-memory", "512m",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.connect.grpc.binding.port=0",  # any free port: read from the log
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=1",
    ]  # fmt: skip
    try:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise ServerDidNotStart(f"cannot run {submit}: {exc}") from exc
    log: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # reads the log to its end, so the server never blocks on it
        for line in proc.stdout:
            log.append(line)
            match = STARTED.search(line)
            if match and not found:
                found.append(f"sc://{match.group(1)}:{match.group(2)}")
                ready.set()
        ready.set()  # the server exited

    reader = threading.Thread(target=drain, name="connect-server-log", daemon=True)
    reader.start()
    try:
        ready.wait(timeout)
        if not found:
            tail = "".join(log[-15:]) or "(no output)"
            raise ServerDidNotStart(
                f"the Spark Connect server did not listen within {timeout:.0f} s "
                f"(exit code {proc.poll()}); its last lines:\n{tail}"
            )
        yield found[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
        reader.join(timeout=10)
