"""Trainer scaling on one many-core host: 1-16 worker processes, dlcore vs PyTorch DDP (gloo).

What it measures: the data-parallel inner loop that every Spark barrier task of
`fraud-app train` runs (fraud_app/spark/worker.py `_run_group`: Dropout reseeded per
iteration, forward, BCE-with-logits over the global batch, backward, then
`ShardedStep`: reduce-scatter, Adam on the rank's own slice, all-gather), here in N
plain processes joined through dlcore's real rendezvous and authenticated collectives,
without Spark (Spark's per-stage cost is amortised by group scheduling; its share is
measured by bench/spark_overhead.py and modelled by bench/scaling_model.py). Weak
scaling: every worker keeps its own batch (--batch), as when a cluster adds executors.

Systems, each in fresh processes per (workers, round), rounds alternating the order:
  dlcore_shm     dlcore, transport "auto" (= shared memory on one host: what
                 `fraud-app train` with local[N] or one big executor host gets)
  dlcore_shm_frames  dlcore_shm with its phases signalled by control frames round the
                 socket ring (DLCORE_SHM_SIGNAL=socket: the signal before session 28,
                 and the one used off x86-64) instead of counters in shared memory
  dlcore_tcp     dlcore, transport "socket" (the TCP ring that crosses hosts)
  torch_ddp      the peer: torch.nn.parallel.DistributedDataParallel, gloo backend,
                 the same MLP (Linear/ReLU/Dropout), loss, Adam and batch per worker

Models: `fraud` = the trainable part of the shipped member (configs/demo.yaml: hidden
128-64, Dropout 0.1, on 274 encoded inputs = 43,521 parameters, the size
bench/scaling_model.py projects) and `wide` (64-2048-2048-1, 4.3 M parameters, 17 MB of
gradient: the bandwidth-bound case). Every process uses one BLAS / torch thread.

Figures per (model, system, workers): samples/s (global samples / the slowest rank's
time over the timed steps, median over rounds), scaling efficiency = samples/s(N) /
(N x samples/s(1)), and for dlcore the sync share of the step. The final JSON line
holds all of them plus `ratio_vs_torch_ddp` (dlcore_shm samples/s / torch_ddp
samples/s) per model and worker count. Weights must agree across ranks at the end
(max abs difference reported; it must be 0 for dlcore: all ranks all-gather the
same slices).

Run: python bench/trainer_scaling.py [--workers 1,2,4,8,16] [--rounds 2]
Needs torch for the peer (never a project dependency); without it, --systems
dlcore_shm,dlcore_tcp.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the launcher imports dlcore too
MODELS = {  # name -> (in_features, hidden widths, dropout, batch per worker, lr)
    "fraud": (274, (128, 64), 0.1, 256, 3e-3),
    "wide": (64, (2048, 2048), 0.0, 64, 1e-3),
}
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
RANK_TIMEOUT_S = 240.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--systems", default="dlcore_shm,dlcore_tcp,torch_ddp")
    ap.add_argument("--models", default="fraud,wide")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per run")
    ap.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rank is not None:
        return rank_main(args.rank, Path(args.job))
    workers = [int(w) for w in args.workers.split(",")]
    systems, models = args.systems.split(","), args.models.split(",")
    runs: dict[str, list[dict]] = {}
    for model in models:
        for n in workers:
            for r in range(args.rounds):
                order = systems if r % 2 == 0 else systems[::-1]
                for system in order:
                    res = launch(system, model, n, r, args.seconds)
                    runs.setdefault(f"{model}/{system}/{n}", []).append(res)
                    print(
                        f"{model:5s} {system:10s} n={n:2d} round {r}: "
                        f"{res['samples_per_s']:,.0f} samples/s, steps {res['steps']}, "
                        f"sync share {res.get('sync_share', float('nan')):.3f}"
                        f"{', memory signals' if res.get('memory_signals') else ''}",
                        flush=True,
                    )
    print(json.dumps(summarise(runs, workers, systems, models)))


def summarise(runs, workers, systems, models) -> dict:
    out: dict = {"benchmark": "trainer_scaling", "host": host_facts(), "figures": {}}
    for model in models:
        fig: dict = {"params": None}
        for system in systems:
            rows = {}
            for n in workers:
                rs = runs[f"{model}/{system}/{n}"]
                sps = statistics.median(r["samples_per_s"] for r in rs)
                rows[n] = {
                    "samples_per_s": round(sps, 1),
                    "all": [round(r["samples_per_s"], 1) for r in rs],
                    "max_abs_weight_diff_across_ranks": max(r["weight_spread"] for r in rs),
                }
                if "sync_share" in rs[0]:
                    rows[n]["sync_share"] = round(statistics.median(r["sync_share"] for r in rs), 3)
                fig["params"] = rs[0]["params"]
            base = rows[workers[0]]["samples_per_s"] / workers[0]
            for n in workers:
                rows[n]["efficiency"] = round(rows[n]["samples_per_s"] / (n * base), 3)
            fig[system] = rows
        if "torch_ddp" in systems and "dlcore_shm" in systems:
            fig["ratio_vs_torch_ddp"] = {
                n: round(
                    fig["dlcore_shm"][n]["samples_per_s"] / fig["torch_ddp"][n]["samples_per_s"], 2
                )
                for n in workers
            }
        if "dlcore_shm_frames" in systems and "dlcore_shm" in systems:
            fig["ratio_memory_vs_frame_signals"] = {
                n: round(
                    fig["dlcore_shm"][n]["samples_per_s"]
                    / fig["dlcore_shm_frames"][n]["samples_per_s"],
                    2,
                )
                for n in workers
            }
        out["figures"][model] = fig
    return out


def host_facts() -> dict:
    facts = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return facts


def launch(system: str, model: str, n: int, round_no: int, seconds: float) -> dict:
    """N fresh rank processes; returns the run's figures (the slowest rank's clock)."""
    with tempfile.TemporaryDirectory(prefix="trainer-scaling-") as tmp:
        run_dir = Path(tmp)
        job = {"system": system, "model": model, "world": n, "seconds": seconds}
        server = None
        if system.startswith("dlcore"):
            from dlcore.collective import RendezvousServer

            secret = secrets.token_bytes(32)
            (run_dir / "secret").write_bytes(secret)
            server = RendezvousServer(secret, n, host="127.0.0.1")
            job["rendezvous"] = list(server.address)
        else:
            import socket

            with socket.socket() as s:  # a free port for torch's TCP store
                s.bind(("127.0.0.1", 0))
                job["port"] = s.getsockname()[1]
        (run_dir / "job.json").write_text(json.dumps(job))
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": _pythonpath()}
        if system == "dlcore_shm_frames":
            env["DLCORE_SHM_SIGNAL"] = "socket"
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--rank", str(r), "--job", str(run_dir / "job.json")],
                env=env,
            )
            for r in range(n)
        ]
        try:
            deadline = time.monotonic() + RANK_TIMEOUT_S
            for p in procs:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise SystemExit(f"{system} n={n}: a rank ran past {RANK_TIMEOUT_S:.0f} s") from None
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            if server is not None:
                server.close()
        bad = [r for r, p in enumerate(procs) if p.returncode != 0]
        if bad:
            raise SystemExit(f"{system} n={n}: ranks {bad} failed")
        results = [json.loads((run_dir / f"rank-{r}.json").read_text()) for r in range(n)]
    slowest = max(r["seconds"] for r in results)
    steps = results[0]["steps"]
    first = np.asarray(results[0]["weights"])
    spread = max(float(np.max(np.abs(np.asarray(r["weights"]) - first))) for r in results)
    out = {
        "samples_per_s": steps * MODELS[model][3] * n / slowest,
        "steps": steps,
        "params": results[0]["params"],
        "weight_spread": spread,
    }
    if "memory_signals" in results[0]:
        out["memory_signals"] = results[0]["memory_signals"]
    if "sync_s" in results[0]:
        out["sync_share"] = statistics.mean(r["sync_s"] / r["seconds"] for r in results)
    return out


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def rank_main(rank: int, job_path: Path) -> None:
    job = json.loads(job_path.read_text())
    data = batches(rank, job["model"])
    run = dlcore_rank if job["system"].startswith("dlcore") else torch_rank
    result = run(rank, job, job_path.parent, data)
    (job_path.parent / f"rank-{rank}.json").write_text(json.dumps(result))


def batches(rank: int, model: str, count: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """A few fixed minibatches per rank, cycled (data loading is not what is measured)."""
    in_features, _, _, batch, _ = MODELS[model]
    rng = np.random.default_rng(1000 + rank)
    out = []
    for _ in range(count):
        X = rng.standard_normal((batch, in_features)).astype(np.float32)
        y = (X[:, 0] + 0.5 * rng.standard_normal(batch) > 1.5).astype(np.float32)[:, None]
        out.append((X, y))
    return out


def timed_steps(step_fn, barrier, seconds: float) -> int:
    """Warm up, then time a fixed few steps (every rank runs the same collectives) and
    return the step count that fills `seconds` (callers use rank 0's)."""
    for i in range(5):
        step_fn(i)
    barrier()
    t0 = time.perf_counter()
    for i in range(5, 15):
        step_fn(i)
    return max(5, int(seconds / ((time.perf_counter() - t0) / 10)))


def run_steps(step_fn, barrier, steps: int) -> float:
    """Seconds for `steps` steps between two barriers (every rank runs the same count)."""
    barrier()
    t0 = time.perf_counter()
    for i in range(steps):
        step_fn(1000 + i)
    barrier()
    return time.perf_counter() - t0


def dlcore_rank(rank: int, job: dict, run_dir: Path, data) -> dict:
    from dlcore.backends import set_num_threads
    from dlcore.collective import CommConfig, Communicator, Member, ShardedStep
    from dlcore.layers import Dropout, Linear, ReLU, Sequential
    from dlcore.losses import BCEWithLogits
    from dlcore.model import Model
    from dlcore.optimizers import Adam

    set_num_threads(1)
    in_features, hidden, dropout, batch, lr = MODELS[job["model"]]
    layers: list = []
    for width in hidden:
        layers += [Linear(width), ReLU()] + ([Dropout(dropout)] if dropout else [])
    model = Model(
        Sequential([*layers, Linear(1, init="glorot_uniform")]), in_features=in_features, seed=0
    )
    reseeded = [layer for layer in model.layer.children() if hasattr(layer, "reseed")]
    n = job["world"]
    transport = "socket" if job["system"] == "dlcore_tcp" else "auto"
    config = CommConfig(
        listen_host="127.0.0.1", advertise_host="127.0.0.1", transport=transport,
        topology="flat", connect_timeout=120.0, op_timeout=120.0,
    )  # fmt: skip
    secret = (run_dir / "secret").read_bytes()
    comm = Communicator.join(tuple(job["rendezvous"]), secret, Member(rank, n, 0), config)
    step = ShardedStep(comm, Adam(learning_rate=lr), model.params)
    loss = BCEWithLogits()

    def one(i: int) -> None:
        for layer in reseeded:
            layer.reseed([0, rank, i])
        X, y = data[i % len(data)]
        model.params.zero_grad()
        logits, backprop = model.forward(X, training=True)
        _, dlogits = loss(logits, y, None, denominator=batch * n)
        backprop(dlogits)
        step.step(model.params)

    steps = _agree(comm, timed_steps(one, comm.barrier, job["seconds"]))
    sync0 = step.total_sync_s
    seconds = run_steps(one, comm.barrier, steps)
    result = {
        "seconds": seconds, "steps": steps, "params": int(model.params.size),
        "sync_s": step.total_sync_s - sync0, "transport": comm.transport,
        "memory_signals": getattr(comm._transport, "_signals", None) is not None,
        "weights": model.params.data[:: max(1, model.params.size // 512)].tolist(),
    }  # fmt: skip
    comm.close()
    return result


def _agree(comm, steps: int) -> int:
    """Every rank runs rank 0's count (a sum where only rank 0 contributes)."""
    buf = np.array([float(steps) if comm.rank == 0 else 0.0], dtype=np.float64)
    return int(comm.all_reduce_small(buf)[0])


def torch_rank(rank: int, job: dict, run_dir: Path, data) -> dict:
    import torch
    import torch.distributed as dist
    from torch import nn

    torch.set_num_threads(1)
    in_features, hidden, dropout, _, lr = MODELS[job["model"]]
    n = job["world"]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{job['port']}", rank=rank, world_size=n
    )
    torch.manual_seed(0)
    layers: list = []
    width_in = in_features
    for width in hidden:
        layers += [nn.Linear(width_in, width), nn.ReLU()] + (
            [nn.Dropout(dropout)] if dropout else []
        )
        width_in = width
    net = nn.parallel.DistributedDataParallel(nn.Sequential(*layers, nn.Linear(width_in, 1)))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    tensors = [(torch.from_numpy(X), torch.from_numpy(y)) for X, y in data]

    def one(i: int) -> None:
        X, y = tensors[i % len(tensors)]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(X), y).backward()
        opt.step()

    steps = timed_steps(one, dist.barrier, job["seconds"])
    agreed = torch.tensor([steps], dtype=torch.int64)
    dist.broadcast(agreed, src=0)
    steps = int(agreed.item())
    seconds = run_steps(one, dist.barrier, steps)
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    dist.destroy_process_group()
    return {
        "seconds": seconds, "steps": steps, "params": int(flat.size),
        "weights": flat[:: max(1, flat.size // 512)].tolist(),
    }  # fmt: skip


if __name__ == "__main__":
    main()
