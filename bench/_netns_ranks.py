"""What runs inside the namespace "hosts" of bench/netns_cluster.py: agents and rank jobs.

Owns: the host agent (in a host's namespaces: own hostname and /dev/shm, then the
rendezvous servers on host 0 or the rank processes elsewhere) and the three rank jobs,
each returning its figures as a dict that the driver (netns_cluster.py) reads back:
`pair_rank` (raw duplex stream vs flat all-reduce, 2 hosts x 1 rank), `train_rank` (flat
vs hierarchical ShardedStep training, blocks alternating) and `fault_rank` (all-reduce
until the group breaks). Also the model, the data and the single-process reference the
driver checks the trained weights against. Rank processes are started as
`netns_cluster.py --rank R RUN_DIR`, so they import this module from there.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from _netns import FIRST_HOST, address, become_host

SCRIPT = str(Path(__file__).resolve().with_name("netns_cluster.py"))  # the entry point

RDV_PORTS = {"pair": 29400, "flat": 29401, "hierarchical": 29402}
RAW_PORT = 29410
TIMEOUT_S = 300.0


def agent(host: int, job: dict, run_dir: Path) -> None:
    become_host(host)
    sys.path.insert(0, job["repo"])
    if host == 0:
        return serve(job, run_dir)
    ranks = job["ranks"][str(host)]
    threads = []  # ranks as processes of this host (they inherit its namespaces)
    for rank in ranks:
        argv = [sys.executable, SCRIPT, "--rank", str(rank), str(run_dir)]
        path = os.pathsep.join(filter(None, (job["repo"], os.environ.get("PYTHONPATH"))))
        threads.append(subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": path}))
    codes = [p.wait(timeout=TIMEOUT_S * 4) for p in threads]
    if any(codes) and not job.get("partial"):
        raise SystemExit(f"host {host}: rank exit codes {codes}")


def serve(job: dict, run_dir: Path) -> None:
    from dlcore.collective import RendezvousServer

    secret = (run_dir / "secret").read_bytes()
    servers = [
        RendezvousServer(secret, job["world"], host=_addr(job, 0), port=RDV_PORTS[name])
        for name in job["groups"]
    ]
    (run_dir / "servers-up").write_text("1")
    deadline = time.monotonic() + TIMEOUT_S * 4
    while not (run_dir / "done").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    for server in servers:
        server.close()


def rank_main(rank: int, run_dir: Path) -> None:
    job = json.loads((run_dir / "job.json").read_text())
    while not (run_dir / "servers-up").exists():
        time.sleep(0.05)
    kinds = {"pair": pair_rank, "train": train_rank, "fault": fault_rank}
    result = kinds[job["kind"]](rank, job, run_dir)
    (run_dir / f"rank-{rank}.json").write_text(json.dumps(result))


def _join(rank: int, job: dict, run_dir: Path, group: str, round_id: int):
    from dlcore.collective import CommConfig, Communicator, Member

    host = next(int(h) for h, ranks in job["ranks"].items() if rank in ranks)
    config = CommConfig(
        listen_host=_addr(job, host), advertise_host=_addr(job, host),
        op_timeout=job.get("op_timeout", TIMEOUT_S),
        connect_timeout=120.0, topology=group if group != "pair" else "flat",
    )  # fmt: skip
    secret = (run_dir / "secret").read_bytes()
    member = Member(rank, job["world"], round_id)
    return Communicator.join((_addr(job, 0), RDV_PORTS[group]), secret, member, config)


def pair_rank(rank: int, job: dict, run_dir: Path) -> dict:
    """Raw duplex stream vs flat all-reduce between two single-rank hosts."""
    comm = _join(rank, job, run_dir, "pair", 0)
    nbytes = job["nbytes"]
    sock = _raw_socket(rank, comm, job)
    out, into = memoryview(bytearray(nbytes)), memoryview(bytearray(nbytes))
    buf = np.ones(nbytes // 4, dtype=np.float32)
    times: dict[str, list[float]] = {"raw": [], "allreduce": []}
    for round_no in range(job["rounds"] + 1):
        comm.barrier()
        t0 = time.perf_counter()
        _duplex(sock, out, into)
        t_raw = time.perf_counter() - t0
        comm.barrier()
        t0 = time.perf_counter()
        comm.all_reduce(buf)
        t_ar = time.perf_counter() - t0
        if buf[0] != 2 or buf[-1] != 2:
            raise RuntimeError(f"wrong all-reduce result {buf[0]}, {buf[-1]}")
        buf.fill(1.0)
        if round_no:  # round 0 warms up (TCP slow start, page faults)
            times["raw"].append(t_raw)
            times["allreduce"].append(t_ar)
    transport = comm.transport
    comm.close()
    sock.close()
    from dlcore.collective import checksum

    return {
        "times": times,
        "transport": transport,
        "hostname": socket.gethostname(),
        "crc32": checksum.IMPLEMENTATION,
    }


def _addr(job: dict, host: int) -> str:
    """Host `host`'s TEST-NET address in this job (first_host: see _netns.address)."""
    return address(host, job.get("first_host", FIRST_HOST))


def _raw_socket(rank: int, comm, job: dict) -> socket.socket:
    from dlcore.collective.wire import configure_socket

    if rank == 1:
        listener = socket.create_server((_addr(job, 2), RAW_PORT))
        comm.barrier()
        sock, _ = listener.accept()
        listener.close()
    else:
        comm.barrier()
        sock = socket.create_connection((_addr(job, 2), RAW_PORT), timeout=TIMEOUT_S)
    sock.settimeout(TIMEOUT_S)
    configure_socket(sock)
    return sock


def _duplex(sock: socket.socket, out: memoryview, into: memoryview) -> None:
    sender = threading.Thread(target=sock.sendall, args=(out,))
    sender.start()
    got = 0
    while got < len(into):
        n = sock.recv_into(into[got:], len(into) - got)
        if n == 0:
            raise ConnectionError("the raw stream closed early")
        got += n
    sender.join(timeout=TIMEOUT_S)


def train_rank(rank: int, job: dict, run_dir: Path) -> dict:
    """Alternate blocks of training steps on a flat and a hierarchical group."""
    from dlcore.collective import ShardedStep
    from dlcore.optimizers import SGD

    comms = {g: _join(rank, job, run_dir, g, i) for i, g in enumerate(("flat", "hierarchical"))}
    models, steps = {}, {}
    for name, comm in comms.items():
        models[name] = build_model(job.get("width", 2048))
        steps[name] = ShardedStep(comm, SGD(learning_rate=0.01), models[name].params)
    allreduce_s = _time_all_reduces(comms, models["flat"].params.size, job["rounds"])
    seconds = {name: 0.0 for name in comms}
    warm_sync = {name: 0.0 for name in comms}
    compute = {name: 0.0 for name in comms}
    phases = {name: [0.0, 0.0] for name in comms}  # reduce-scatter, all-gather seconds
    world, batch, block = job["world"], job["batch"], job["block"]
    for b in range(job["blocks"] + 1):
        for name in ("flat", "hierarchical") if b % 2 else ("hierarchical", "flat"):
            comms[name].barrier()
            t0 = time.perf_counter()
            t_fb = 0.0
            for s in range(block):
                t_fb += _train_step(models[name], steps[name], rank, b * block + s, world, batch)
                if b:
                    timing = steps[name].last_timings
                    phases[name][0] += timing.reduce_scatter_s
                    phases[name][1] += timing.all_gather_s
            if b:  # block 0 warms up
                seconds[name] += time.perf_counter() - t0
                compute[name] += t_fb
            else:
                warm_sync[name] = steps[name].total_sync_s
    samples = job["blocks"] * block * batch * world
    result = {
        "samples_per_s": {n: samples / t for n, t in seconds.items()},
        "sync_s_per_step": {
            n: (steps[n].total_sync_s - warm_sync[n]) / (job["blocks"] * block) for n in comms
        },
        "allreduce_s": allreduce_s,
        "forward_backward_s_per_step": {n: t / (job["blocks"] * block) for n, t in compute.items()},
        "rs_ag_s_per_step": {n: [t / (job["blocks"] * block) for t in p] for n, p in phases.items()},
        "transports": {n: c.transport for n, c in comms.items()},
        "local_transport": comms["hierarchical"]._transport.local.transport,
        "weights": {n: models[n].params.data[:: max(1, models[n].params.size // 4096)].tolist()
                    for n in comms},
        "params": models["flat"].params.size,
        "hostname": socket.gethostname(),
    }  # fmt: skip
    for comm in comms.values():
        comm.close()
    return result


def build_model(width: int = 2048):
    from dlcore.layers import Linear, ReLU, Sequential
    from dlcore.model import Model

    layer = Sequential([Linear(width), ReLU(), Linear(width), ReLU(), Linear(1)])
    return Model(layer, in_features=64, seed=0)


def batch_of(rank: int, step_no: int, world: int, batch: int):
    rng = np.random.default_rng(step_no * world + rank)
    X = rng.standard_normal((batch, 64)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.float32)[:, None]


def _backward(model, X, y) -> None:
    model.params.zero_grad()
    logits, backprop = model.forward(X, training=True)
    backprop(1.0 / (1.0 + np.exp(-logits)) - y)  # BCE-with-logits gradient (summed)


def fault_rank(rank: int, job: dict, run_dir: Path) -> dict:
    """All-reduce until the group breaks; report how and when."""
    comm = _join(rank, job, run_dir, "hierarchical", 0)
    buf = np.ones(1 << 18, dtype=np.float32)
    done = 0
    try:
        while True:
            comm.all_reduce(buf)
            buf.fill(1.0)
            done += 1
            if done == 3:
                (run_dir / f"warm-{rank}").write_text(str(os.getpid()))
    except Exception as exc:  # the measurement: which error, how fast
        return {"error": f"{type(exc).__name__}: {exc}", "at": time.time(), "rounds": done}
    finally:
        comm.close()


def _time_all_reduces(comms: dict, size: int, rounds: int) -> dict[str, float]:
    """Median time of a bare all-reduce of `size` floats per topology, alternating."""
    buf = np.ones(size, dtype=np.float32)
    times: dict[str, list[float]] = {name: [] for name in comms}
    for r in range(rounds + 1):
        for name in ("flat", "hierarchical") if r % 2 else ("hierarchical", "flat"):
            comms[name].barrier()
            t0 = time.perf_counter()
            comms[name].all_reduce(buf)
            if r:
                times[name].append(time.perf_counter() - t0)
            buf.fill(1.0)
    return {name: statistics.median(t) for name, t in times.items()}


def _train_step(model, step, rank: int, step_no: int, world: int, batch: int) -> float:
    """One step; returns the seconds of the forward and backward pass."""
    X, y = batch_of(rank, step_no, world, batch)
    t0 = time.perf_counter()
    _backward(model, X, y)
    t_compute = time.perf_counter() - t0
    step.step(model.params, grad_scale=1.0 / (batch * world))
    return t_compute


def single_process_weights(job: dict) -> np.ndarray:
    """The same global batches, trained in this process without any collective."""
    from dlcore.optimizers import SGD, ShardContext

    model, world, batch = build_model(job.get("width", 2048)), job["world"], job["batch"]
    optimizer = SGD(learning_rate=0.01)
    state = optimizer.init_state(model.params.size)
    for step_no in range((job["blocks"] + 1) * job["block"]):
        parts = [batch_of(r, step_no, world, batch) for r in range(world)]
        _backward(
            model, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        )
        grad = model.params.grad * np.float32(1.0 / (batch * world))
        optimizer.step(model.params.data, grad, state, ShardContext.for_params(model.params))
    return model.params.data[:: max(1, model.params.size // 4096)].copy()
