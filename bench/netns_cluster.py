"""Three "hosts" on one machine (network namespaces on a shaped bridge): all-reduce vs the wire.

Builds, as root, H network namespaces ("hosts") plus one namespace holding a bridge;
each host gets a veth pair into the bridge, an address from TEST-NET 192.0.2.0/24
(192.0.2.10+i; no other address is ever used, the root namespace is not touched)
and a token-bucket shaper on its egress (`tc qdisc ... tbf rate --rate`). Every
process of a host runs in that host's network namespace AND its own UTS namespace
(hostname netns-host-i) and mount namespace with a private tmpfs on /dev/shm
(`unshare --uts --mount`), so dlcore's co-location probe (boot id, hostname, uid,
then a shared-memory probe) really sees different hosts between namespaces and one
host within one. Everything is torn down on exit, also after a failure or Ctrl-C.

Host 0 plays the driver: it runs the rendezvous servers. Hosts 1 and 2 run ranks.
This module is the driver in the root namespace (cluster, jobs, figures, JSON) and the
entry point of every process; what runs inside the hosts (agents, the rank jobs, the
model) is in `_netns_ranks.py`, the namespaces themselves in `_netns.py`.
Two measurements, each comparing against its peer IN THE SAME processes, alternating
round by round so both see the same machine load:

1. 2 hosts x 1 rank: a raw TCP duplex stream (both ends send S bytes at once over one
   plain socket) vs dlcore's flat-ring all-reduce of S bytes (float32). For n = 2 the
   ring moves S bytes each way, exactly what the duplex stream moves, so
       allreduce_efficiency_vs_raw_tcp_shaped_link = t_raw_duplex / t_allreduce
   (= bus bandwidth / raw per-direction bandwidth). Medians over --rounds.
2. 2 hosts x 2 ranks (ranks 0,1 on host 1 and 2,3 on host 2: the best case for the flat
   ring, which then crosses the link once each way): the same 4 processes join a
   topology="flat" group and a topology="hierarchical" group and alternate blocks of
   training steps (MLP 64-W-W-1; --width W, default 2048: 4.3 M parameters = 17 MB of
   gradient; batch --batch per rank, SGD through ShardedStep), same data, same steps, so the final
   weights must agree (reported as max_rel_diff_flat_vs_hierarchical).
       throughput_ratio_hierarchical_vs_flat_2x2 = samples/s hierarchical / flat

Fault cases (`--fault link-cut|freeze`): 2 hosts x 2 ranks loop hierarchical
all-reduces with op_timeout --op-timeout; once every rank has done 3, host 2's port on
the bridge is set down and not restored (link-cut), or host 2's rank processes are
stopped with SIGSTOP (freeze; killed once the others have reported). Every rank still
running must end with a CommunicationError naming a peer; the JSON gives the seconds
from the fault to the last error (netem is not in this kernel: no loss or delay case).

Run (root): .venv/bin/python bench/netns_cluster.py [--rate 1gbit] [--mib 16] [--rounds 8]
The last line is one JSON object. Without root, `ip` or `unshare` it exits with code 2
and a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _netns import Cluster, missing_requirement, sh
from _netns_ranks import TIMEOUT_S, agent, rank_main, single_process_weights


def run_job(cluster: Cluster, job: dict, run_dir: Path) -> list[dict]:
    for name in ("done", "servers-up"):
        (run_dir / name).unlink(missing_ok=True)
    (run_dir / "job.json").write_text(json.dumps(job))
    hosts = [0, *map(int, job["ranks"])]
    procs = [
        cluster.spawn(
            h, os.path.abspath(__file__), [str(run_dir)], run_dir / f"{job['kind']}-host{h}.log"
        )
        for h in hosts
    ]
    try:
        for proc in procs[1:]:
            code = proc.wait(timeout=TIMEOUT_S * 4)
            if code:
                logs = "\n".join((run_dir / f"{job['kind']}-host{h}.log").read_text()[-3000:]
                                 for h in hosts)  # fmt: skip
                raise RuntimeError(f"a host of the {job['kind']} job failed ({code}):\n{logs}")
    finally:
        (run_dir / "done").write_text("1")
        procs[0].wait(timeout=30)
    ranks = sorted(r for rs in job["ranks"].values() for r in rs)
    if job.get("partial"):  # a fault job: frozen ranks were killed and report nothing
        ranks = [r for r in ranks if (run_dir / f"rank-{r}.json").exists()]
    return [{"rank": r, **json.loads((run_dir / f"rank-{r}.json").read_text())} for r in ranks]


def measure_fault(args: argparse.Namespace) -> dict:
    """2 hosts x 2 ranks all-reduce (hierarchical); then host 2's link is cut at the bridge
    (link-cut) or its rank processes are stopped with SIGSTOP (freeze)."""
    run_dir = Path(tempfile.mkdtemp(prefix="dlcore-netns-"))
    (run_dir / "secret").write_bytes(secrets.token_bytes(32))
    os.chmod(run_dir / "secret", 0o600)
    job = {"repo": str(Path(__file__).resolve().parent.parent), "kind": "fault", "world": 4,
           "first_host": args.first_host,
           "groups": ["hierarchical"], "ranks": {"1": [0, 1], "2": [2, 3]},
           "op_timeout": args.op_timeout, "partial": True}  # fmt: skip
    try:
        with Cluster(3, args.rate, args.tbf_latency, **_cluster_names(args)) as cluster:
            fault: dict[str, float] = {}
            injector = threading.Thread(
                target=_inject, args=(args.fault, cluster, run_dir, fault), daemon=True
            )
            injector.start()
            ranks = run_job(cluster, job, run_dir)
            injector.join(timeout=5)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    what = {"link-cut": "host 2's bridge port set down, not restored",
            "freeze": "host 2's rank processes (2, 3) stopped with SIGSTOP"}[args.fault]  # fmt: skip
    return {
        "benchmark": f"netns_cluster_{args.fault}",
        "op_timeout_s": args.op_timeout,
        "fault": what,
        "seconds_fault_to_last_error": round(max(r["at"] for r in ranks) - fault["at"], 2),
        "errors": {str(r["rank"]): r["error"][:300] for r in ranks},
        "load_1min": round(os.getloadavg()[0], 2),
    }


def _inject(fault: str, cluster: Cluster, run_dir: Path, out: dict) -> None:
    """Once every rank has done 3 all-reduces: cut host 2's link, or freeze its ranks."""
    deadline = time.monotonic() + TIMEOUT_S
    warm = [run_dir / f"warm-{r}" for r in range(4)]
    while not all(w.exists() for w in warm):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    out["at"] = time.time()
    if fault == "link-cut":
        sh("ip", "-n", cluster.bridge, "link", "set", "v2", "down")
        return
    frozen = [int(warm[r].read_text()) for r in (2, 3)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    while not all((run_dir / f"rank-{r}.json").exists() for r in (0, 1)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in frozen:  # the survivors have reported: end the frozen ranks
        os.kill(pid, signal.SIGKILL)


def measure(args: argparse.Namespace) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="dlcore-netns-"))
    (run_dir / "secret").write_bytes(secrets.token_bytes(32))
    os.chmod(run_dir / "secret", 0o600)
    repo = str(Path(__file__).resolve().parent.parent)
    base = {"repo": repo, "first_host": args.first_host, "width": args.width}
    try:
        with Cluster(
            3, args.rate, args.tbf_latency, args.no_idle_slow_start, **_cluster_names(args)
        ) as cluster:
            pair = run_job(cluster, {**base, "kind": "pair", "world": 2, "groups": ["pair"],
                                     "ranks": {"1": [0], "2": [1]}, "nbytes": int(args.mib * 2**20),
                                     "rounds": args.rounds}, run_dir)  # fmt: skip
            job = {**base, "kind": "train", "world": 4, "groups": ["flat", "hierarchical"],
                   "ranks": {"1": [0, 1], "2": [2, 3]}, "batch": args.batch,
                   "block": args.block, "blocks": args.blocks, "rounds": args.rounds}  # fmt: skip
            dropped = cluster.drops()
            train = run_job(cluster, job, run_dir)
            drops = {"pair": dropped, "train": cluster.drops() - dropped}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {**summarize(args, pair, train, single_process_weights(job)), "tbf_drops": drops}


def _cluster_names(args: argparse.Namespace) -> dict:
    return {"prefix": args.prefix, "first_host": args.first_host}


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Normwise: the largest difference relative to the largest weight."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def summarize(args, pair: list[dict], train: list[dict], reference: np.ndarray) -> dict:
    raw = [max(a, b) for a, b in zip(*(p["times"]["raw"] for p in pair), strict=True)]
    ar = [max(a, b) for a, b in zip(*(p["times"]["allreduce"] for p in pair), strict=True)]
    t_raw, t_ar = statistics.median(raw), statistics.median(ar)
    nbytes = int(args.mib * 2**20)
    rate = {n: min(t["samples_per_s"][n] for t in train) for n in ("flat", "hierarchical")}
    flat_w, hier_w = (np.array(train[0]["weights"][n]) for n in ("flat", "hierarchical"))
    same = all(t["weights"] == train[0]["weights"] for t in train)
    return {
        "benchmark": "netns_cluster",
        "link_rate": args.rate,
        "tcp_slow_start_after_idle": 0 if args.no_idle_slow_start else 1,
        "allreduce_mib": args.mib,
        "allreduce_efficiency_vs_raw_tcp_shaped_link": round(t_raw / t_ar, 3),
        "raw_duplex_mb_s_per_direction": round(nbytes / t_raw / 1e6, 1),
        "allreduce_busbw_mb_s": round(nbytes / t_ar / 1e6, 1),
        "pair_transport": pair[0]["transport"],
        "pair_hostnames": [p["hostname"] for p in pair],
        "pair_crc32": [p["crc32"] for p in pair],  # the code computing the wire's CRC-32
        "throughput_ratio_hierarchical_vs_flat_2x2": round(rate["hierarchical"] / rate["flat"], 3),
        "samples_per_s_flat_2x2": round(rate["flat"], 1),
        "samples_per_s_hierarchical_2x2": round(rate["hierarchical"], 1),
        "sync_ms_per_step_flat": round(max(t["sync_s_per_step"]["flat"] for t in train) * 1e3, 1),
        "sync_ms_per_step_hierarchical": round(
            max(t["sync_s_per_step"]["hierarchical"] for t in train) * 1e3, 1
        ),
        "allreduce_ms_2x2_flat": round(max(t["allreduce_s"]["flat"] for t in train) * 1e3, 1),
        "allreduce_ms_2x2_hierarchical": round(
            max(t["allreduce_s"]["hierarchical"] for t in train) * 1e3, 1
        ),
        "forward_backward_ms_per_step": {
            n: round(max(t["forward_backward_s_per_step"][n] for t in train) * 1e3, 1)
            for n in ("flat", "hierarchical")
        },
        "forward_backward_ms_per_step_by_rank": {
            n: [round(t["forward_backward_s_per_step"][n] * 1e3, 1) for t in train]
            for n in ("flat", "hierarchical")
        },
        "reduce_scatter_all_gather_ms_by_rank": {
            n: [[round(x * 1e3, 1) for x in t["rs_ag_s_per_step"][n]] for t in train]
            for n in ("flat", "hierarchical")
        },
        "sync_ms_per_step_by_rank": {
            n: [round(t["sync_s_per_step"][n] * 1e3, 1) for t in train]
            for n in ("flat", "hierarchical")
        },
        "train_transports": train[0]["transports"],
        "train_local_transport": train[0]["local_transport"],
        "train_params": train[0]["params"],
        "train_model": f"MLP 64-{args.width}-{args.width}-1",
        "sync_share_of_step": {
            n: round(max(t["sync_s_per_step"][n] for t in train) * rate[n] / (args.batch * 4), 3)
            for n in ("flat", "hierarchical")
        },
        "train_batch_per_rank": args.batch,
        "max_rel_diff_flat_vs_hierarchical": _rel_diff(hier_w, flat_w),
        "max_rel_diff_vs_single_process": max(_rel_diff(w, reference) for w in (flat_w, hier_w)),
        "weights_identical_on_every_rank": same,
        "rounds": args.rounds,
        "train_steps_timed": args.blocks * args.block,
        "load_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", default="1gbit", help="tc tbf rate of every host's link")
    parser.add_argument("--tbf-latency", default="50ms", help="tbf queue (as latency)")
    parser.add_argument(
        "--no-idle-slow-start", action="store_true",
        help="sysctl net.ipv4.tcp_slow_start_after_idle=0 in every host namespace",
    )  # fmt: skip
    parser.add_argument("--mib", type=float, default=16.0, help="all-reduce size (MiB)")
    parser.add_argument("--rounds", type=int, default=8, help="timed raw/all-reduce rounds")
    parser.add_argument("--batch", type=int, default=16, help="training batch per rank")
    parser.add_argument("--block", type=int, default=3, help="steps per alternating block")
    parser.add_argument("--blocks", type=int, default=4, help="timed blocks per topology")
    parser.add_argument("--fault", choices=["link-cut", "freeze"], help="run a fault case")
    parser.add_argument("--op-timeout", type=float, default=5.0, help="deadline in --fault")
    parser.add_argument("--width", type=int, default=2048, help="MLP 64-W-W-1 hidden width")
    parser.add_argument("--prefix", default="dlc", help="namespace name prefix (+ pid)")
    parser.add_argument(
        "--first-host", type=int, default=10,
        help="last octet of host 0's address (192.0.2.N+i); keep clear of other users",
    )  # fmt: skip
    parser.add_argument("--agent", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("run_dir", nargs="?", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.rank is not None:
        rank_main(args.rank, Path(args.run_dir))
        return 0
    if args.agent is not None:
        run_dir = Path(args.run_dir)
        agent(args.agent, json.loads((run_dir / "job.json").read_text()), run_dir)
        return 0
    problem = missing_requirement()
    if problem:
        print(f"netns_cluster: cannot build namespaces: {problem}", file=sys.stderr)
        return 2
    print(json.dumps(measure_fault(args) if args.fault else measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
