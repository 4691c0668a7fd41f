"""Spark scheduling overhead of the distributed trainer, and where a group's time goes.

Part A, small model (16 -> 8 -> 1 MLP, global batch 32 = 16 per worker, 4,096 rows,
Adam), 2 workers on local[2], the same cached DataFrame for every fit:
  per_iteration   engine="per_iteration": one Spark job per iteration (broadcast the
                  weights, treeAggregate the gradients through the driver)
  grouped_g1      engine="grouped", group_size=1, stage_groups=1: one barrier stage +
                  rendezvous per iteration
  grouped_g100/…  engine="grouped", group_size=G (defaults G=100 and 200),
                  stage_groups=--stage-groups (default auto)

Part B, the fraud MLP (40 -> 256 -> 128 -> 1, ReLU, global batch 2,048 = 1,024 per
worker, 100k rows, Adam), grouped engine, G=50, stage_groups auto, 3,000 iterations.

What is timed. `DistributedTrainer.fit` first turns the DataFrame into cached NumPy
blocks (one-off data preparation, about a second), then runs the engine. The benchmark
wraps the engines' `run` method on the driver and times it: ENGINE TIME = everything fit
does after data preparation (per-stage broadcast of the state, stage launches, task
set-up, rendezvous, the iterations, the group-boundary reports, driver bookkeeping; for
per_iteration: every iteration's job and the driver's optimizer step). Each fit also
records the whole fit() wall time (`fit_ms_per_iteration`) and the sum of history wall_s
(`history_ms_per_iteration`).

A history entry's wall_s is the time between two group commits on the driver (the first
group of a stage: since the previous stage's last commit, so the gap between stages
counts; the first group of a fit: since its stage was submitted). loop_s is the slowest
rank's iteration loop in that group.

Figures (configurations alternate within every round; medians over --rounds):
  ms_per_iteration[c]          engine time / iterations, for each configuration c
  iteration_time_ratio_per_iteration_vs_grouped
                               median over rounds of per_iteration ms / grouped ms at the
                               SMALLEST measured G >= 50 (per-round pairs, same round)
  iteration_time_ratio_by_group_size   the same ratio for every measured G
  overhead_share_grouped       fraud MLP, steady state: (sum(wall_s) - sum(loop_s)) /
                               sum(wall_s) over every stage after each fit's first one, i.e.
                               the share of time outside the iteration loops: stage
                               launches, task set-up, rendezvous, boundary reports, the
                               gaps between stages. Per-iteration cost of the scheduling.
  overhead_share_grouped_whole_fit   the same over whole fits: adds each fit's one-off
                               first stage (cold start + the planner's short measurement
                               stage)
  non_compute_share_grouped    1 - sum(compute_share * wall_s) / sum(wall_s): everything that
                               is not forward/backward/optimizer (so sync + overhead + loop
                               bookkeeping + rank imbalance), steady state
  sync_share_of_compute        fraud MLP: total sync seconds / total compute seconds
                               (sum(sync_share * wall_s) / sum(compute_share * wall_s); sync =
                               reduce-scatter + all-gather, compute = forward + backward +
                               sharded optimizer step; both rank means), steady state
  engine_overhead_share_fraud  1 - sum(loop time) / engine time, whole fits: also counts the
                               driver's work before the first and after the last stage
  fraud_stages_per_fit         barrier stages per fit (median)
  fraud_warm_stage_start_breakdown_ms  median over the first groups of later stages:
                               launch_or_report (wall minus the slowest rank's set-up +
                               rendezvous + loop: previous stage's end + Spark job launch),
                               setup, rendezvous, loop (rank maxima), compute, sync (means)
  fraud_in_stage_group_breakdown_ms    the same for groups inside a stage (launch_or_report
                               = the boundary report)
  fraud_first_group_breakdown_ms       the same for each fit's first group

Run: .venv/bin/python bench/spark_overhead.py [--rounds 3] [--quick]
(export PYSPARK_PYTHON=$PWD/.venv/bin/python PYSPARK_DRIVER_PYTHON=$PWD/.venv/bin/python
SPARK_LOCAL_IP=127.0.0.1 first). The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from _spark_common import (
    Probe,
    fraud_like,
    group_figures,
    history_seconds,
    machine,
    mlp,
    spark_session,
    to_cached_df,
)

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import Adam
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer

SMALL_IN, SMALL_HIDDEN, SMALL_BATCH = 16, (8,), 32
FRAUD_IN, FRAUD_HIDDEN, FRAUD_BATCH = 40, (256, 128), 2048


@dataclass(frozen=True)
class Case:
    name: str
    engine: str
    group_size: int
    iterations: int
    fraud: bool = False
    stage_groups: int | str = 1


def fit_once(case: Case, df, probe: Probe) -> dict[str, Any]:
    in_features, hidden, batch = (
        (FRAUD_IN, FRAUD_HIDDEN, FRAUD_BATCH)
        if case.fraud
        else (SMALL_IN, SMALL_HIDDEN, SMALL_BATCH)
    )
    cfg = DistributedConfig(
        num_workers=2,
        global_batch_size=batch,
        iterations=case.iterations,
        epochs=None,
        group_size=case.group_size,
        stage_groups=case.stage_groups,
        engine=case.engine,
    )
    trainer = DistributedTrainer(
        mlp(in_features, hidden), BCEWithLogits(), Adam(learning_rate=1e-3), cfg
    )
    t0 = time.perf_counter()
    result = trainer.fit(df)
    fit_s = time.perf_counter() - t0
    engine_s = probe.engine_s[-1]
    its = result.iterations
    return {
        "case": case.name,
        "fit_s": fit_s,
        "engine_s": engine_s,
        "engine_ms_per_it": 1e3 * engine_s / its,
        "fit_ms_per_it": 1e3 * fit_s / its,
        "history_ms_per_it": 1e3 * sum(h["wall_s"] for h in result.history) / its,
        "history": result.history,
        "groups": group_figures(result.history) if case.engine == "grouped" else [],
    }


def shares(histories: list[list[dict[str, Any]]], steady: bool) -> dict[str, float]:
    """Shares over all fits; steady=True leaves out each fit's first stage."""
    entries = []
    for hist in histories:
        starts = [i for i, h in enumerate(hist) if h["stage_start"]]
        skip = starts[1] if steady and len(starts) > 1 else (len(hist) if steady else 0)
        entries += hist[skip:]
    s = history_seconds(entries)
    return {
        "overhead_share": s["scheduling_s"] / s["wall_s"],
        "non_compute_share": 1.0 - s["compute_s"] / s["wall_s"],
        "compute_share": s["compute_s"] / s["wall_s"],
        "sync_share": s["sync_s"] / s["wall_s"],
        "sync_share_of_compute": s["sync_s"] / s["compute_s"],
        "rendezvous_share": s["rendezvous_s"] / s["wall_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=4096, help="rows of the small-model data")
    ap.add_argument("--per-iteration-iters", type=int, default=30)
    ap.add_argument("--g1-iters", type=int, default=20)
    ap.add_argument("--grouped-iters", type=int, default=1000)
    ap.add_argument("--group-sizes", type=int, nargs="+", default=[100, 200])
    ap.add_argument("--fraud-rows", type=int, default=100_000)
    ap.add_argument("--fraud-iters", type=int, default=3000)
    ap.add_argument("--fraud-group-size", type=int, default=50)
    ap.add_argument(
        "--stage-groups",
        default="auto",
        type=lambda v: v if v == "auto" else int(v),
        help="groups per barrier stage for the G >= 50 cases (default auto)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, few iterations")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.per_iteration_iters, args.g1_iters = 1, 8, 6
        args.grouped_iters, args.fraud_rows, args.fraud_iters = 400, 20_000, 600
    if not any(g >= 50 for g in args.group_sizes):
        ap.error("--group-sizes needs at least one G >= 50")

    info = machine()
    spark = spark_session("bench-spark-overhead")
    X, y = fraud_like(args.rows, SMALL_IN, seed=0)
    small_df = to_cached_df(spark, X, y)
    X, y = fraud_like(args.fraud_rows, FRAUD_IN, seed=1)
    fraud_df = to_cached_df(spark, X, y)
    del X, y

    cases = [
        Case("per_iteration", "per_iteration", 1, args.per_iteration_iters),
        Case("grouped_g1", "grouped", 1, args.g1_iters),
        *[
            Case(f"grouped_g{g}", "grouped", g, args.grouped_iters, stage_groups=args.stage_groups)
            for g in args.group_sizes
        ],
        Case(
            "fraud_grouped",
            "grouped",
            args.fraud_group_size,
            args.fraud_iters,
            fraud=True,
            stage_groups=args.stage_groups,
        ),
    ]
    warmup = [
        Case("warm_pi", "per_iteration", 1, 3),
        Case("warm_g", "grouped", 10, 20),
        Case("warm_fraud", "grouped", 10, 20, fraud=True),
    ]
    runs: list[dict[str, Any]] = []
    with Probe() as probe:
        for case in warmup:  # JIT, Python workers, backend choice: not measured
            fit_once(case, fraud_df if case.fraud else small_df, probe)
        for r in range(args.rounds):
            # Rotate the order so drift on a shared machine hits every configuration alike.
            for case in cases[r % len(cases) :] + cases[: r % len(cases)]:
                run = fit_once(case, fraud_df if case.fraud else small_df, probe)
                run["round"] = r
                runs.append(run)
                print(
                    f"round {r} {case.name:15s} engine {run['engine_ms_per_it']:9.2f} ms/it  "
                    f"fit {run['fit_ms_per_it']:9.2f} ms/it",
                    flush=True,
                )
    out = summarise(args, cases, runs, info)
    ms = out["ms_per_iteration"]
    print(
        "ms/iteration (engine time, median): "
        + ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
        + f"\nper_iteration / grouped G={out['ratio_reference_group_size']}: "
        f"x{out['iteration_time_ratio_per_iteration_vs_grouped']}"
        f"\nfraud MLP G={args.fraud_group_size}: overhead share {out['overhead_share_grouped']:.2%} "
        f"(whole fit {out['overhead_share_grouped_whole_fit']:.2%}) "
        f"(non-compute {out['non_compute_share_grouped']:.1%}), "
        f"sync/compute {out['sync_share_of_compute']:.1%}"
    )
    print(json.dumps(out))


def summarise(args, cases: list[Case], runs: list[dict[str, Any]], info) -> dict[str, Any]:
    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["case"] == name)

    def paired_ratio(a: str, b: str) -> float:
        by = {(r["case"], r["round"]): r["engine_ms_per_it"] for r in runs}
        return statistics.median(by[(a, k)] / by[(b, k)] for k in range(args.rounds))

    names = [c.name for c in cases]
    big = [g for g in args.group_sizes if g >= 50]
    fraud = [r for r in runs if r["case"] == "fraud_grouped"]
    whole = shares([r["history"] for r in fraud], steady=False)
    steady = shares([r["history"] for r in fraud], steady=True)
    groups = [g for r in fraud for g in r["groups"] if not g["first"]]
    warm_starts = [g for g in groups if g["stage_start"]]
    in_stage = [g for g in groups if not g["stage_start"]]
    first_groups = [g for r in fraud for g in r["groups"] if g["first"]]
    engine_total = sum(r["engine_s"] for r in fraud)
    loop_total = sum(g["loop"] for r in fraud for g in r["groups"])
    parts = ("wall", "launch_or_report", "setup", "rendezvous", "loop", "compute", "sync")

    def breakdown(sel: list[dict[str, Any]]) -> dict[str, float]:
        return (
            {p: round(1e3 * statistics.median(g[p] for g in sel), 2) for p in parts} if sel else {}
        )

    out: dict[str, Any] = {
        "benchmark": "spark_overhead",
        **info,
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "rounds": args.rounds,
        "quick": args.quick,
        "iterations": {c.name: c.iterations for c in cases},
        "ms_per_iteration": {n: round(med(n, "engine_ms_per_it"), 3) for n in names},
        "fit_ms_per_iteration": {n: round(med(n, "fit_ms_per_it"), 3) for n in names},
        "history_ms_per_iteration": {n: round(med(n, "history_ms_per_it"), 3) for n in names},
        "iteration_time_ratio_per_iteration_vs_grouped": round(
            paired_ratio("per_iteration", f"grouped_g{min(big)}"), 1
        ),
        "ratio_reference_group_size": min(big),
        "iteration_time_ratio_by_group_size": {
            str(g): round(paired_ratio("per_iteration", f"grouped_g{g}"), 1)
            for g in args.group_sizes
        },
        "iteration_time_ratio_per_iteration_vs_grouped_g1": round(
            paired_ratio("per_iteration", "grouped_g1"), 2
        ),
        "fraud_group_size": args.fraud_group_size,
        "fraud_ms_per_iteration": round(med("fraud_grouped", "engine_ms_per_it"), 3),
        "overhead_share_grouped": round(steady["overhead_share"], 4),
        "overhead_share_grouped_whole_fit": round(whole["overhead_share"], 4),
        "non_compute_share_grouped": round(steady["non_compute_share"], 4),
        "sync_share_of_compute": round(steady["sync_share_of_compute"], 4),
        "compute_share_grouped": round(steady["compute_share"], 4),
        "sync_share_grouped": round(steady["sync_share"], 4),
        "rendezvous_share_grouped": round(steady["rendezvous_share"], 4),
        "non_compute_share_grouped_whole_fit": round(whole["non_compute_share"], 4),
        "sync_share_of_compute_whole_fit": round(whole["sync_share_of_compute"], 4),
        "fraud_stages_per_fit": statistics.median(
            sum(h["stage_start"] for h in r["history"]) for r in fraud
        ),
        "engine_overhead_share_fraud": round(1.0 - loop_total / engine_total, 4),
        "fraud_stage_groups": args.stage_groups,
        "fraud_warm_stage_start_breakdown_ms": breakdown(warm_starts),
        "fraud_in_stage_group_breakdown_ms": breakdown(in_stage),
        "fraud_first_group_breakdown_ms": breakdown(first_groups),
        "fraud_warm_stage_cache_hit_rate": round(
            sum(g["cache_hits"] for g in warm_starts) / (2 * len(warm_starts)), 3
        )
        if warm_starts
        else None,
        "fraud_transport": fraud[0]["history"][0].get("transport"),
    }
    return out


if __name__ == "__main__":
    main()
