"""A Spark standalone cluster across three network-namespace "hosts", and faults on it.

    python -m tests.integration.netns_spark [--topology flat|hierarchical|auto]
        [--fault none|link-restore|link-cut|freeze-resume|freeze|loss] [--out result.json]

Builds (as root, with bench/_netns.py) three namespace hosts on a bridge: host 0 =
192.0.2.130 (prefix "mh", hostnames mh-host-0..2, TEST-NET's upper half, so that
bench/netns_cluster.py's 192.0.2.10+ never meets it), host 1 = .131, host 2 = .132;
each with its own hostname, private /dev/shm and an /etc/hosts naming the three.
Host 0 runs the Spark master (spark-class, 512m heap) AND the driver program (this
module with --driver: a real DistributedTrainer.fit, spark.driver.host = host 0's
address); hosts 1 and 2 each run a worker (2 task slots, 512m daemon heap, one 512m
executor), so the 4 barrier tasks are 2 ranks on each of two hosts: the co-location
probe must see shared memory within a host and TCP between them.

A fault (`--fault`) hits host 2 once the driver has committed group --fault-after-group:
- link-restore / link-cut: host 2's bridge port set down; up again after --fault-s (or
  never);
- freeze-resume / freeze: every process of host 2 (worker, executor, Python workers)
  stopped with SIGSTOP; SIGCONT after --fault-s (or never);
- loss: an nftables rule in host 2 drops --loss-percent % of its packets, both ways, from
  then on (`numgen random`; this kernel has no netem).
The driver trains, then trains a single-process reference on the very partitions the
ranks trained on. One JSON line at the end (also --out): the result or the error, the
ranks' hosts, the transports, relative weight difference, and the fault's times
(seconds from the fault to the first failed stage, to the next committed group, to the
end). Everything (JVMs, namespaces) is torn down on exit, also after a failure; exit
code 2 with a one-line reason when namespaces or Java are missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from _netns import Cluster, missing_requirement, sh  # noqa: E402

sys.path.pop(0)

FIRST_HOST = 130  # 192.0.2.130-132
MASTER_PORT, MASTER_UI, WORKER_UI, APP_UI = 7077, 8080, 8081, 4040  # each host has its own ports
PROGRESS = re.compile(r"^(\d+\.\d+) .* group (\d+): iterations ")
FAILED = re.compile(r"^(\d+\.\d+) .* stage failed ")
STOP_GRACE_S = 30.0
JOB_KEYS = (
    "iterations",
    "group_size",
    "op_timeout",
    "max_retries",
    "stage_start_timeout",
    "hidden",
)
FAULTS = ("none", "link-restore", "link-cut", "freeze-resume", "freeze", "loss")


def spark_env(cluster: Cluster, host: int, run_dir: Path) -> dict[str, str]:
    import pyspark

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    (run_dir / "conf").mkdir(exist_ok=True)
    env.update(
        SPARK_HOME=str(Path(pyspark.__file__).resolve().parent),
        SPARK_CONF_DIR=str(run_dir / "conf"),
        SPARK_LOG_DIR=str(run_dir / "logs"),
        SPARK_WORKER_DIR=str(run_dir / f"work-{host}"),
        SPARK_LOCAL_IP=cluster.address(host),
        SPARK_DAEMON_MEMORY="512m",
        SPARK_DAEMON_JAVA_OPTS="-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    return env


def start_cluster(cluster: Cluster, root: Path) -> str:
    """Master in host 0, a worker in hosts 1 and 2; returns the master URL."""
    hosts = cluster.hosts_file(root / "hosts")
    spark_class = str(Path(spark_env(cluster, 0, root)["SPARK_HOME"]) / "bin" / "spark-class")
    master = f"spark://{cluster.address(0)}:{MASTER_PORT}"
    cluster.spawn_cmd(
        0,
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", cluster.address(0),
         "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI)],
        root / "master.log", spark_env(cluster, 0, root), hosts,
    )  # fmt: skip
    for host in (1, 2):
        cluster.spawn_cmd(
            host,
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", cluster.address(host),
             "--cores", "2", "--memory", "1g", "--webui-port", str(WORKER_UI),
             "--work-dir", str(root / f"work-{host}"), master],
            root / f"worker{host}.log", spark_env(cluster, host, root), hosts,
        )  # fmt: skip
    return master


def start_driver(cluster: Cluster, root: Path, run_dir: Path, job: dict) -> subprocess.Popen:
    """The driver program (a Spark application) in host 0."""
    run_dir.mkdir()
    (run_dir / "job.json").write_text(json.dumps(job))
    return cluster.spawn_cmd(
        0,
        [sys.executable, "-m", "tests.integration.netns_spark", "--driver", str(run_dir)],
        run_dir / "driver.log", spark_env(cluster, 0, root), root / "hosts",
    )  # fmt: skip


# -- faults ---------------------------------------------------------------------------------
def wait_for_group(log: Path, group: int, driver: subprocess.Popen) -> float | None:
    """Block until the driver's log shows group `group` committed (None: the driver ended)."""
    while driver.poll() is None:
        for line in log.read_text(errors="replace").splitlines():
            m = PROGRESS.match(line)
            if m and int(m.group(2)) >= group:
                return float(m.group(1))
        time.sleep(0.05)
    return None


def set_frozen(cluster: Cluster, host: int, frozen: bool) -> list[int]:
    pids = cluster.pids(host)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
    return pids


def install_loss(cluster: Cluster, host: int, percent: int) -> None:
    """nftables: drop `percent` % of host `host`'s packets in and out (counted)."""
    ns = cluster.names[host]
    sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "mhloss")
    for chain, hook in (("in", "input"), ("out", "output")):
        sh("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "mhloss", chain,
           f"{{ type filter hook {hook} priority 0; }}")  # fmt: skip
        sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "mhloss", chain,
           "ip", "daddr", "!=", "127.0.0.0/8", "numgen", "random", "mod", "100", "<",
           str(percent), "counter", "drop")  # fmt: skip


def loss_counters(cluster: Cluster, host: int) -> int:
    out = subprocess.run(
        ["ip", "netns", "exec", cluster.names[host], "nft", "list", "table", "inet", "mhloss"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))


def inject(
    args, fault: str, cluster: Cluster, run_dir: Path, driver: subprocess.Popen, out: dict
) -> None:
    """The fault thread: wait for the group, hit host 2, maybe undo it after --fault-s."""
    seen = wait_for_group(run_dir / "driver.log", args.fault_after_group, driver)
    if seen is None:
        out["fault_error"] = "the driver ended before the fault could be injected"
        return
    out["fault_at"] = time.time()
    if fault.startswith("link"):
        sh("ip", "-n", cluster.bridge, "link", "set", cluster.port(2), "down")
    elif fault.startswith("freeze"):
        out["frozen_pids"] = len(set_frozen(cluster, 2, True))
    else:
        install_loss(cluster, 2, args.loss_percent)
        return
    if fault in ("link-restore", "freeze-resume"):
        time.sleep(args.fault_s)
        if fault == "link-restore":
            sh("ip", "-n", cluster.bridge, "link", "set", cluster.port(2), "up")
        else:
            set_frozen(cluster, 2, False)
        out["undone_at"] = time.time()


# -- orchestration --------------------------------------------------------------------------
def run(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="mh-spark-"))
    out: dict = {"runs": []}
    try:
        with Cluster(3, args.rate, prefix="mh", first_host=FIRST_HOST,
                     hostname="mh-host-{}") as cluster:  # fmt: skip
            t0 = time.time()
            master = start_cluster(cluster, root)
            for i, spec in enumerate(args.runs.split(",")):
                topology, fault = spec.split(":")
                job = {"master": master, "topology": topology, "fault": fault,
                       **{k: getattr(args, k) for k in JOB_KEYS}}  # fmt: skip
                out["runs"].append(run_one(args, cluster, root, root / f"run{i}", job))
            out["seconds_total"] = round(time.time() - t0, 1)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        out["namespaces_left"] = [n for n in [*cluster.names, cluster.bridge] if n in left]
    finally:
        out["run_dir"] = str(root)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return out


def run_one(args, cluster: Cluster, root: Path, run_dir: Path, job: dict) -> dict:
    """One driver application, with its fault; the fault is undone afterwards (the next
    application finds the cluster whole again, if Spark takes host 2 back)."""
    t0 = time.time()
    driver = start_driver(cluster, root, run_dir, job)
    out: dict = {"topology": job["topology"], "fault": job["fault"]}
    fault = None
    if job["fault"] != "none":
        fault = threading.Thread(
            target=inject, args=(args, job["fault"], cluster, run_dir, driver, out), daemon=True
        )
        fault.start()
    wait_driver(driver, run_dir / "result.json", args.timeout, out)
    out["end_at"] = time.time()
    out["seconds_run"] = round(out["end_at"] - t0, 1)
    if fault is not None:
        fault.join(timeout=args.fault_s + 5)
        heal(job["fault"], cluster, out)
    result_file = run_dir / "result.json"
    if result_file.exists():
        out.update(json.loads(result_file.read_text()))
    out.update(fault_times(run_dir / "driver.log", out))
    out["driver_log_tail"] = (run_dir / "driver.log").read_text(errors="replace")[-2500:]
    return out


def wait_driver(driver: subprocess.Popen, result: Path, timeout_s: float, out: dict) -> None:
    """Until the driver exits; kill it after `timeout_s` (a hang), or STOP_GRACE_S after its
    result is written (SparkContext.stop waits up to spark.rpc.askTimeout on executors
    it cannot reach: Spark's teardown, not the training)."""
    written, deadline = None, time.time() + timeout_s
    while driver.poll() is None:
        now = time.time()
        if written is None and result.exists():
            written = now
        if now > deadline or (written is not None and now > written + STOP_GRACE_S):
            driver.kill()
            driver.wait()
            if written is None:
                out["hang"] = f"the driver wrote no result within {timeout_s:.0f} s"
            else:
                out["spark_stop_killed_after_s"] = STOP_GRACE_S
            return
        time.sleep(0.5)


def heal(fault: str, cluster: Cluster, out: dict) -> None:
    if fault == "loss":
        out["loss_dropped_packets"] = loss_counters(cluster, 2)
        sh("ip", "netns", "exec", cluster.names[2], "nft", "delete", "table", "inet", "mhloss")
    elif fault.startswith("link"):
        sh("ip", "-n", cluster.bridge, "link", "set", cluster.port(2), "up")
    elif fault.startswith("freeze"):
        set_frozen(cluster, 2, False)


def fault_times(log: Path, out: dict) -> dict:
    """Seconds from the fault to the first failed stage, to the next commit, to the end."""
    at = out.get("fault_at")
    if at is None or not log.exists():
        return {}
    lines = log.read_text(errors="replace").splitlines()
    fails = [float(m.group(1)) for line in lines if (m := FAILED.match(line))]
    commits = [float(m.group(1)) for line in lines if (m := PROGRESS.match(line))]
    after_fail = [t for t in commits if fails and t > fails[0]]
    times = {"seconds_fault_to_end": round(out.get("fit_ended_at", out["end_at"]) - at, 2)}
    if fails:
        times["seconds_fault_to_failed_stage"] = round(fails[0] - at, 2)
    if after_fail:
        times["seconds_fault_to_next_commit_after_failure"] = round(after_fail[0] - at, 2)
    later = [t for t in commits if t > at]
    if later:
        times["seconds_fault_to_next_commit"] = round(later[0] - at, 2)
    return times


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--driver", help=argparse.SUPPRESS)  # run dir: be the driver program
    p.add_argument(
        "--runs",
        default="flat:none,hierarchical:none",
        help="applications to run one after another on the same cluster: TOPOLOGY:FAULT,... "
        f"(topology flat|hierarchical|auto; fault {'|'.join(FAULTS)})",
    )
    p.add_argument("--fault-after-group", type=int, default=1)
    p.add_argument("--fault-s", type=float, default=8.0, help="seconds before undoing it")
    p.add_argument("--loss-percent", type=int, default=5)
    p.add_argument("--op-timeout", type=float, default=20.0, help="collective deadline (s)")
    p.add_argument("--stage-start-timeout", type=float, default=60.0)
    p.add_argument("--max-retries", type=int, default=2)
    p.add_argument("--iterations", type=int, default=120)
    p.add_argument("--group-size", type=int, default=10)
    p.add_argument("--hidden", type=int, default=8, help="hidden units of the MLP")
    p.add_argument("--rate", default="1gbit", help="tc tbf rate of every host's link")
    p.add_argument("--timeout", type=float, default=900.0, help="one application's deadline (s)")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--keep", action="store_true", help="keep the run directory (logs)")
    return p.parse_args(argv)


def _interrupted(signum: int, _frame) -> None:
    raise SystemExit(f"netns_spark: interrupted by signal {signum}; tearing the cluster down")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.driver:
        from tests.integration.netns_spark_driver import drive

        return drive(Path(args.driver))
    problem = missing_requirement() or ("" if shutil.which("java") else "needs Java (`java`)")
    if problem:
        print(f"netns_spark: cannot build the cluster here: {problem}", file=sys.stderr)
        return 2
    for spec in args.runs.split(","):
        topology, _, fault = spec.partition(":")
        if topology not in ("flat", "hierarchical", "auto") or fault not in FAULTS:
            print(f"netns_spark: bad --runs item {spec!r}; expected TOPOLOGY:FAULT with "
                  f"topology flat|hierarchical|auto and fault one of {FAULTS}", file=sys.stderr)  # fmt: skip
            return 2
    # SIGTERM (and SIGINT, which a background job inherits as ignored) unwind through
    # run()'s finally and Cluster.__exit__: JVMs killed, namespaces deleted.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupted)
    out = run(args)
    line = json.dumps(out, default=float)
    if args.out:
        Path(args.out).write_text(line)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
