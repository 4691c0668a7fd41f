"""Spark's own costs on local[2] that the scaling model needs: stage launch, driver, block manager.

Inputs of bench/scaling_model.py (one JSON line; also appended to --out):

A. Stage launch cost vs the number of tasks. One trivial job per task count k:
   `parallelize(range(k), k).map(noop).count()` for k in --tasks (regular stages queue
   beyond the 2 slots), and barrier stages (`.barrier().mapPartitions(...).collect()`,
   the trainer's kind) for k = 1 and 2 (local[2] has 2 slots; a barrier stage cannot be
   larger than the slots). Median wall time of the job per k.
B. Driver aggregation (the MLlib pattern, engine "per_iteration"): broadcast a vector of
   V floats, then `treeAggregate` (depth 2) of one V-float gradient per partition
   over 2 partitions, for V in --sizes. Median seconds per broadcast + treeAggregate.
C. Block-manager exchange (BigDL's AllReduceParameter moves gradient slices as blocks
   through Spark's block manager; PySpark has no BlockManager API, so the same data
   movement is done by two shuffles, whose map outputs the block manager serves):
   each of 2 partitions splits its V-float gradient into 2 slices keyed by owner,
   `reduceByKey` sums each slice at its owner (reduce-scatter), then every owner's
   slice goes to every partition (all-gather). Median seconds per exchange, per V.

Every configuration alternates within every round (--rounds), after one warm-up
round, so machine noise hits all alike. Load averages at start and end are printed.

Run: PYTHONPATH=. .venv/bin/python bench/spark_stage_cost.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _spark_common import machine, spark_session


def _noop(x):
    return x


def _one(_it):
    return [1]


def stage_job(sc, k: int, barrier: bool) -> float:
    rdd = sc.parallelize(range(k), k)
    t0 = time.perf_counter()
    if barrier:
        rdd.barrier().mapPartitions(_one).collect()
    else:
        rdd.map(_noop).count()
    return time.perf_counter() - t0


def tree_aggregate(sc, size: int, parts) -> float:
    t0 = time.perf_counter()
    weights = sc.broadcast(np.ones(size, dtype=np.float32))

    def seq(acc, _x):
        return acc + weights.value  # the "gradient" of one partition, shaped like the weights

    total = parts.treeAggregate(np.zeros(size, dtype=np.float32), seq, np.add, depth=2)
    elapsed = time.perf_counter() - t0
    weights.destroy()
    if float(total[0]) != 2.0:
        raise RuntimeError(f"treeAggregate gave {total[0]}, expected 2")
    return elapsed


def block_exchange(sc, size: int) -> float:
    n = 2

    def slices(index, _it):
        grad = np.full(size, index + 1, dtype=np.float32)
        return [(i, grad[i * size // n : (i + 1) * size // n]) for i in range(n)]

    def spread(kv):
        return [(j, kv) for j in range(n)]

    def total(it):
        return [sum(float(v[0]) for _, (_, v) in it)]

    t0 = time.perf_counter()
    reduced = sc.parallelize(range(n), n).mapPartitionsWithIndex(slices).reduceByKey(np.add, n)
    sums = reduced.flatMap(spread).partitionBy(n).mapPartitions(total).collect()
    elapsed = time.perf_counter() - t0
    if sums != [2 * 3.0, 2 * 3.0]:
        raise RuntimeError(f"block exchange gave {sums}, expected [6.0, 6.0]")
    return elapsed


def measure(args: argparse.Namespace) -> dict:
    spark = spark_session("spark-stage-cost")
    sc = spark.sparkContext
    parts = sc.parallelize(range(2), 2).cache()
    parts.count()
    configs = [(f"stage_{k}", lambda k=k: stage_job(sc, k, False)) for k in args.tasks]
    configs += [(f"barrier_{k}", lambda k=k: stage_job(sc, k, True)) for k in (1, 2)]
    configs += [(f"tree_{v}", lambda v=v: tree_aggregate(sc, v, parts)) for v in args.sizes]
    configs += [(f"blocks_{v}", lambda v=v: block_exchange(sc, v)) for v in args.sizes]
    times: dict[str, list[float]] = {name: [] for name, _ in configs}
    info = machine()
    for r in range(args.rounds + 1):
        order = configs if r % 2 else configs[::-1]
        for name, fn in order:
            t = fn()
            if r:  # round 0 warms up (JIT, Python workers, broadcast paths)
                times[name].append(t)
    spark.stop()
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "benchmark": "spark_stage_cost",
        "master": "local[2]",
        "stage_s_by_tasks": {k: round(med[f"stage_{k}"], 4) for k in args.tasks},
        "barrier_stage_s_by_tasks": {k: round(med[f"barrier_{k}"], 4) for k in (1, 2)},
        "tree_aggregate_s_by_floats": {v: round(med[f"tree_{v}"], 4) for v in args.sizes},
        "block_exchange_s_by_floats": {v: round(med[f"blocks_{v}"], 4) for v in args.sizes},
        "rounds": args.rounds,
        **info,
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1 << 16, 1 << 20, 1 << 22])
    parser.add_argument("--out", type=Path, help="also append the JSON line to this file")
    args = parser.parse_args(argv)
    line = json.dumps(measure(args))
    if args.out:
        with args.out.open("a") as out:
            out.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
