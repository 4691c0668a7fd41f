"""A real Spark standalone cluster (one master, N workers) on 127.0.0.1, for integration tests.

Owns: starting the daemons with Spark's own `sbin/spark-daemon.sh` (the pip package ships
it but not start-master.sh / start-worker.sh), waiting until every worker is registered
and ALIVE in the master's JSON UI, and stopping everything again: `spark-daemon.sh stop`
for each daemon, SIGKILL by pid file for a daemon that does not go, and SIGKILL for any
process still working under this cluster's directory (executors, Python workers).

Every run uses its own directory (logs, pid files, worker dirs, an empty conf dir), its
own SPARK_IDENT_STRING and fresh ports, so daemons left behind by a crashed run cannot
collide with it. The daemons run with spark.port.maxRetries=0: a port taken between
choosing it and binding it makes the daemon fail (and the start is retried on new ports)
instead of silently moving to the next port.

Does not own: the application that runs on the cluster (see standalone_driver.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
LOOPBACK = "127.0.0.1"
START_ATTEMPTS = 3

T = TypeVar("T")
logger = logging.getLogger(__name__)


class ClusterError(RuntimeError):
    """A daemon did not start, register or stop; the message quotes its log."""


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free a moment ago (all bound at once, so no duplicates)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in socks]


def poll(check: Callable[[], T | None], *, timeout_s: float, what: str, every_s: float = 0.2) -> T:
    """Call `check` until it returns a value (not None) or raise TimeoutError naming `what`.

    OSError/ValueError from `check` (a UI not listening yet, half-written JSON) count as
    "not yet"; ClusterError (a daemon died) ends the wait at once.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = check()
        except (OSError, ValueError) as exc:
            value, last_error = None, exc
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error}" if last_error else ""
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}{detail}")
        time.sleep(every_s)


def get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read().decode())


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@dataclass(frozen=True)
class Daemon:
    cls: str
    instance: int
    args: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.cls.rsplit('.', 1)[-1]} {self.instance}"


class StandaloneCluster:
    """`with StandaloneCluster(tmp_path, python=sys.executable) as cluster:` ... `cluster.master_url`."""

    def __init__(
        self,
        root: Path,
        *,
        python: str,
        workers: int = 2,
        cores: int = 1,
        memory: str = "1g",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        import pyspark

        self.spark_home = Path(pyspark.__file__).resolve().parent
        self.root = Path(root) / f"standalone-{uuid.uuid4().hex[:8]}"
        self.python, self.num_workers = python, workers
        self.cores, self.memory = cores, memory
        self.start_timeout_s, self.stop_timeout_s = start_timeout_s, stop_timeout_s
        self.ident = f"fraudtest-{uuid.uuid4().hex[:8]}"
        for sub in ("logs", "pids", "work", "conf"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._pids: dict[Daemon, int] = {}
        self._plan()

    # -- layout ---------------------------------------------------------------------------

    def _plan(self) -> None:
        """Fresh ports for the master (RPC + UI) and each worker's UI."""
        ports = free_ports(2 + self.num_workers)
        self.port, self.webui_port = ports[0], ports[1]
        self.master_url = f"spark://{LOOPBACK}:{self.port}"
        self.webui_url = f"http://{LOOPBACK}:{self.webui_port}"
        self.master = Daemon(
            MASTER,
            1,
            ("--host", LOOPBACK, "--port", str(self.port), "--webui-port", str(self.webui_port)),
        )
        self.workers = [
            Daemon(
                WORKER,
                i,
                (
                    "--host",
                    LOOPBACK,
                    "--cores",
                    str(self.cores),
                    "--memory",
                    self.memory,
                    "--webui-port",
                    str(ports[1 + i]),
                    "--work-dir",
                    str(self.root / "work" / f"worker-{i}"),
                    self.master_url,
                ),
            )
            for i in range(1, self.num_workers + 1)
        ]

    def env(self) -> dict[str, str]:
        """The daemons' environment: nothing Spark-related inherited, everything under root."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update(
            SPARK_HOME=str(self.spark_home),
            SPARK_CONF_DIR=str(self.root / "conf"),
            SPARK_LOG_DIR=str(self.root / "logs"),
            SPARK_PID_DIR=str(self.root / "pids"),
            SPARK_WORKER_DIR=str(self.root / "work"),
            SPARK_IDENT_STRING=self.ident,
            SPARK_LOCAL_IP=LOOPBACK,
            SPARK_DAEMON_MEMORY="512m",
            # No silent port hopping; no REST submission server (it wants fixed port 6066,
            # which a second or stale cluster on this machine would already hold).
            SPARK_DAEMON_JAVA_OPTS="-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false",
            PYSPARK_PYTHON=self.python,
            PYSPARK_DRIVER_PYTHON=self.python,
        )
        return env

    def pid_file(self, d: Daemon) -> Path:
        return self.root / "pids" / f"spark-{self.ident}-{d.cls}-{d.instance}.pid"

    def log_tail(self, d: Daemon, lines: int = 25) -> str:
        logs = sorted((self.root / "logs").glob(f"spark-{self.ident}-{d.cls}-{d.instance}-*.out"))
        if not logs:
            return f"(no log for {d.name} in {self.root / 'logs'})"
        text = logs[-1].read_text(errors="replace").splitlines()[-lines:]
        return f"{logs[-1]}:\n" + "\n".join(text)

    def _daemon_cmd(self, action: str, d: Daemon) -> list[str]:
        extra = list(d.args) if action == "start" else []
        return [
            str(self.spark_home / "sbin" / "spark-daemon.sh"),
            action,
            d.cls,
            str(d.instance),
            *extra,
        ]

    # -- start ------------------------------------------------------------------------------

    def start(self) -> StandaloneCluster:
        """Start master + workers; retried on fresh ports if a daemon fails (e.g. a port race)."""
        error: ClusterError | None = None
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self._plan()
            try:
                self._start_once()
                return self
            except ClusterError as exc:
                self.stop()
                error = exc
        raise ClusterError(f"no cluster after {START_ATTEMPTS} attempts; last: {error}") from error

    def _start_once(self) -> None:
        t0 = time.monotonic()
        self._launch([self.master])
        poll(
            self._master_state,
            timeout_s=self.start_timeout_s,
            what=f"the master's JSON UI at {self.webui_url}/json/",
        )
        logger.info("master %s ALIVE after %.1f s", self.master_url, time.monotonic() - t0)
        self._launch(self.workers)
        poll(
            self._all_workers_alive,
            timeout_s=self.start_timeout_s,
            what=f"{self.num_workers} ALIVE workers registered with {self.master_url}",
        )
        logger.info(
            "%d workers ALIVE after %.1f s (%s)", self.num_workers, time.monotonic() - t0, self.root
        )

    def _launch(self, daemons: list[Daemon]) -> None:
        """spark-daemon.sh start, in parallel (each call waits ~2.5 s for its JVM to appear)."""
        procs = [
            (
                d,
                subprocess.Popen(
                    self._daemon_cmd("start", d),
                    env=self.env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
            for d in daemons
        ]
        try:
            for d, proc in procs:
                try:
                    out, _ = proc.communicate(timeout=60)
                except subprocess.TimeoutExpired as exc:
                    raise ClusterError(
                        f"spark-daemon.sh start {d.name} did not return in 60 s"
                    ) from exc
                pid = self._read_pid(d)
                if pid is None or not self._alive(d, pid):
                    raise ClusterError(
                        f"{d.name} did not start ({out.strip()}).\n{self.log_tail(d)}"
                    )
                self._pids[d] = pid
        finally:  # the scripts only, never the JVMs they started (stop() handles those)
            for _, proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    def _read_pid(self, d: Daemon) -> int | None:
        try:
            return int(self.pid_file(d).read_text().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(d: Daemon, pid: int) -> bool:
        return d.cls in _cmdline(pid)

    def _check_daemons(self) -> None:
        for d, pid in self._pids.items():
            if not self._alive(d, pid):
                raise ClusterError(f"{d.name} (pid {pid}) exited.\n{self.log_tail(d)}")

    def _master_state(self) -> dict[str, Any] | None:
        self._check_daemons()
        state = get_json(f"{self.webui_url}/json/")
        if state.get("url") != self.master_url:
            raise ClusterError(
                f"the UI at {self.webui_url} belongs to {state.get('url')}, not {self.master_url}"
            )
        return state if state.get("status") == "ALIVE" else None

    def _all_workers_alive(self) -> list[dict[str, Any]] | None:
        state = self._master_state()
        alive = [w for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE"]
        return alive if len(alive) == self.num_workers else None

    # -- inspection --------------------------------------------------------------------------

    def master_state(self) -> dict[str, Any]:
        return get_json(f"{self.webui_url}/json/")

    def worker_states(self) -> list[dict[str, Any]]:
        """Each ALIVE worker's own JSON (its executors and finished executors)."""
        workers = [w for w in self.master_state()["workers"] if w["state"] == "ALIVE"]
        return [{**get_json(f"{w['webuiaddress']}/json/"), "id": w["id"]} for w in workers]

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop workers, then the master; return what had to be killed by force ([] = clean)."""
        forced: list[str] = []
        for d in [*self.workers, self.master]:
            pid = self._pids.pop(d, None) or self._read_pid(d)
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    self._daemon_cmd("stop", d), env=self.env(), capture_output=True, timeout=30
                )
            if pid is not None and not self._wait_gone(lambda d=d, pid=pid: self._alive(d, pid)):
                _kill(pid, signal.SIGKILL)
                forced.append(
                    f"{d.name} (pid {pid}) ignored SIGTERM for {self.stop_timeout_s:.0f} s"
                )
        forced += self._kill_strays()
        return forced

    def _wait_gone(self, running: Callable[[], bool]) -> bool:
        try:
            poll(
                lambda: True if not running() else None, timeout_s=self.stop_timeout_s, what="exit"
            )
            return True
        except TimeoutError:
            return False

    def stray_pids(self) -> list[int]:
        """Processes running in (or naming) this cluster's directory: executors, Python workers."""
        root, mine = str(self.root), os.getpid()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == mine:
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
            if cwd.startswith(root) or root in _cmdline(int(entry.name)):
                found.append(int(entry.name))
        return found

    def _kill_strays(self) -> list[str]:
        if self._wait_gone(lambda: bool(self.stray_pids())):
            return []
        left = self.stray_pids()
        for pid in left:
            _kill(pid, signal.SIGKILL)
        return [f"pid {pid} ({_cmdline(pid)[:120]}) outlived the daemons" for pid in left]

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
