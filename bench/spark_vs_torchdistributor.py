"""Training throughput: our grouped engine vs TorchDistributor (torch DDP, gloo), 2 CPU processes.

Both sides train the fraud MLP (40 -> 256 -> 128 -> 1, ReLU, BCE with logits, Adam) on
the same 100k synthetic fraud-like rows (bench/_spark_common.fraud_like), global batch
2,048 (1,024 per process), the same number of iterations (--iterations), 1 thread per
process, each process drawing its minibatches from a per-epoch random permutation of
its half of the rows (a gather per batch on both sides).

  ours   DistributedTrainer(engine="grouped", group_size=G=100, stage_groups="auto"),
         2 workers on local[2] (shared-memory all-reduce: the default on one host),
         from a cached DataFrame (features array<float>); 1 BLAS thread per task.
  peer   pyspark.ml.torch.distributor.TorchDistributor(num_processes=2, local_mode=True,
         use_gpu=False).run(train_fn, ...): torchrun starts 2 processes on the driver
         host; train_fn calls torch.set_num_threads(1), init_process_group("gloo"), wraps
         the model in DistributedDataParallel. Its data are NumPy arrays pre-materialised
         per rank on the driver (rows 0::2 and 1::2, outside every timing) and passed as
         run() arguments, so TorchDistributor pickles them to its temp file and each
         process unpickles them: that is counted in the peer's end-to-end time only.

Figures (the two sides alternate within every round; medians over --rounds):
  ours_samples_per_s       STEADY STATE: samples of iterations G+1..N / (engine time - first
                           group's wall time), engine time = DistributedTrainer's engine
                           run (after its DataFrame -> NumPy preparation). Includes the
                           recurring costs (stage launches, rendezvous, group-boundary
                           reports, driver bookkeeping); excludes the first, cold group.
  torch_samples_per_s      STEADY STATE: samples of iterations G+1..N / time of those
                           iterations (between two dist.barrier() calls, after G warm-up
                           iterations), slowest rank.
  throughput_ratio_vs_torchdistributor   ours_samples_per_s / torch_samples_per_s (ratio of the
                           medians; throughput_ratio_by_round gives each round's own pair)
  ours_loop_samples_per_s  the same samples / the slowest rank's iteration loops only
  ours_loop_ratio_vs_torchdistributor    ours_loop_samples_per_s / torch_samples_per_s
  ours_end_to_end_s        wall time of fit(df) (includes the data preparation from the
                           cached DataFrame, all groups, result)
  torch_end_to_end_s       wall time of TorchDistributor.run(...) (pickling function and
                           data, torchrun + 2 Python processes, import torch, gloo
                           rendezvous, DDP set-up, all N iterations, output file)
  end_to_end_ratio_vs_torchdistributor   torch_end_to_end_s / ours_end_to_end_s (> 1: ours faster)
  torch_launch_s / torch_setup_s         run() call -> train_fn entered (spawn + unpickle);
                           train_fn entered -> first iteration (import torch, gloo, DDP)

Run: .venv/bin/python bench/spark_vs_torchdistributor.py [--rounds 3] [--quick]
Needs torch (`pip install torch==2.13.0`); torch is never a project dependency. The last
output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
from _spark_common import (
    Probe,
    fraud_like,
    group_figures,
    machine,
    mlp,
    spark_session,
    to_cached_df,
)

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import Adam
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer

D, HIDDEN, GLOBAL_BATCH, WORLD, LR = 40, (256, 128), 2048, 2, 1e-3


def torch_train(parts, iterations: int, warmup: int, local_batch: int, hidden, lr: float):
    """Runs in each torchrun process (pickled by value): returns every rank's timings."""
    t_enter_wall, t_enter = time.time(), time.perf_counter()
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    X, y = parts[rank]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
    torch.manual_seed(0)
    layers, width = [], X.shape[1]
    for units in hidden:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(rank)
    order, offset = torch.randperm(len(X), generator=gen), 0

    def step() -> None:
        nonlocal order, offset
        if offset + local_batch > len(X):
            order, offset = torch.randperm(len(X), generator=gen), 0
        idx = order[offset : offset + local_batch]
        offset += local_batch
        opt.zero_grad(set_to_none=True)
        loss_fn(model(Xt[idx]), yt[idx]).backward()
        opt.step()

    dist.barrier()
    t_ready = time.perf_counter()
    for _ in range(warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(iterations - warmup):
        step()
    dist.barrier()
    t1 = time.perf_counter()
    mine = {
        "rank": rank,
        "enter_wall": t_enter_wall,
        "setup_s": t_ready - t_enter,
        "warmup_s": t0 - t_ready,
        "steady_s": t1 - t0,
        "threads": torch.get_num_threads(),
    }
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)  # every rank returns all ranks' timings
    dist.destroy_process_group()
    return everyone


def run_torch(parts, args) -> dict[str, Any]:
    from pyspark.ml.torch.distributor import TorchDistributor

    distributor = TorchDistributor(num_processes=WORLD, local_mode=True, use_gpu=False)
    t_call_wall, t0 = time.time(), time.perf_counter()
    ranks = distributor.run(
        torch_train, parts, args.iterations, args.group_size, GLOBAL_BATCH // WORLD, HIDDEN, LR
    )
    e2e = time.perf_counter() - t0
    steady = max(r["steady_s"] for r in ranks)
    samples = (args.iterations - args.group_size) * GLOBAL_BATCH
    return {
        "end_to_end_s": e2e,
        "samples_per_s": samples / steady,
        "launch_s": max(r["enter_wall"] for r in ranks) - t_call_wall,
        "setup_s": max(r["setup_s"] for r in ranks),
        "threads": [r["threads"] for r in ranks],
    }


def run_ours(df, args, probe: Probe) -> dict[str, Any]:
    cfg = DistributedConfig(
        num_workers=WORLD,
        global_batch_size=GLOBAL_BATCH,
        iterations=args.iterations,
        epochs=None,
        group_size=args.group_size,
    )
    trainer = DistributedTrainer(mlp(D, HIDDEN), BCEWithLogits(), Adam(learning_rate=LR), cfg)
    t0 = time.perf_counter()
    result = trainer.fit(df)
    e2e = time.perf_counter() - t0
    groups = group_figures(result.history)
    steady_s = probe.engine_s[-1] - groups[0]["wall"]
    loop_s = sum(g["loop"] for g in groups[1:])
    samples = (result.iterations - result.history[0]["iterations"]) * GLOBAL_BATCH
    return {
        "end_to_end_s": e2e,
        "samples_per_s": samples / steady_s,
        "loop_samples_per_s": samples / loop_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--group-size", type=int, default=100, help="G; also torch's warm-up")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 200 iterations")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.rows, args.iterations = 1, 20_000, 200
    if args.iterations < 2 * args.group_size:
        ap.error("--iterations must be at least 2 x --group-size (one warm group + one measured)")

    import torch

    info = machine()
    spark = spark_session("bench-spark-vs-torchdistributor")
    X, y = fraud_like(args.rows, D, seed=1)
    df = to_cached_df(spark, X, y)
    parts = [
        (np.ascontiguousarray(X[r::WORLD]), np.ascontiguousarray(y[r::WORLD])) for r in range(WORLD)
    ]
    del X, y

    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    with Probe() as probe:
        warm = argparse.Namespace(iterations=20, group_size=10)
        run_ours(df, warm, probe)  # JVM, Python workers, backend choice: not measured
        for r in range(args.rounds):
            for who in ("ours", "torch") if r % 2 == 0 else ("torch", "ours"):
                if who == "ours":
                    ours.append(run_ours(df, args, probe))
                else:
                    theirs.append(run_torch(parts, args))
                print(f"round {r} {who:5s} {(ours if who == 'ours' else theirs)[-1]}", flush=True)

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ours_sps, torch_sps = med(ours, "samples_per_s"), med(theirs, "samples_per_s")
    ours_e2e, torch_e2e = med(ours, "end_to_end_s"), med(theirs, "end_to_end_s")
    result = {
        "benchmark": "spark_vs_torchdistributor",
        **info,
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "peer": "TorchDistributor(num_processes=2, local_mode=True, use_gpu=False) + DDP(gloo)",
        "torch_version": torch.__version__,
        "quick": args.quick,
        "rounds": args.rounds,
        "rows": args.rows,
        "iterations": args.iterations,
        "group_size": args.group_size,
        "global_batch": GLOBAL_BATCH,
        "torch_threads_per_process": theirs[0]["threads"],
        "ours_samples_per_s": round(ours_sps),
        "torch_samples_per_s": round(torch_sps),
        "throughput_ratio_vs_torchdistributor": round(ours_sps / torch_sps, 3),
        "throughput_ratio_by_round": [
            round(o["samples_per_s"] / t["samples_per_s"], 3)
            for o, t in zip(ours, theirs, strict=True)
        ],
        "ours_loop_samples_per_s": round(med(ours, "loop_samples_per_s")),
        "ours_loop_ratio_vs_torchdistributor": round(
            med(ours, "loop_samples_per_s") / torch_sps, 3
        ),
        "ours_end_to_end_s": round(ours_e2e, 2),
        "torch_end_to_end_s": round(torch_e2e, 2),
        "end_to_end_ratio_vs_torchdistributor": round(torch_e2e / ours_e2e, 2),
        "torch_launch_s": round(med(theirs, "launch_s"), 2),
        "torch_setup_s": round(med(theirs, "setup_s"), 2),
    }
    print(
        f"steady state: ours {ours_sps:,.0f} samples/s vs TorchDistributor {torch_sps:,.0f} "
        f"(x{result['throughput_ratio_vs_torchdistributor']}); end to end {ours_e2e:.1f} s vs "
        f"{torch_e2e:.1f} s (x{result['end_to_end_ratio_vs_torchdistributor']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
