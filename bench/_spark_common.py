"""Shared driver-side helpers of the Spark benchmarks (not a benchmark itself).

Owns: the benchmark SparkSession (local[2], quiet), the synthetic fraud-like data
set, NumPy -> cached Spark DataFrame, the dlcore MLPs the benchmarks train, and
sums over a DistributedTrainer history. Everything here runs on the driver only:
functions shipped to Spark tasks or torch processes live in the benchmark scripts
themselves (cloudpickle pickles a script's functions by value, but a helper module's
by reference, and bench/ is not importable on the workers).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.model import Model
from fraud_app.spark.grouped import GroupedEngine
from fraud_app.spark.per_iteration import PerIterationEngine

MASTER = "local[2]"
BENCH_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "3g",
}


def spark_session(app: str):
    """One local[2] session with the app's settings (fraud_app.spark.session.get_spark)."""
    from fraud_app.spark.session import get_spark

    return get_spark(MASTER, app, BENCH_CONF)


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the (shared) machine was."""
    return {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "master": MASTER,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }


def fraud_like(
    n: int, d: int = 30, fraud_rate: float = 0.02, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced, fraud-like binary data: (X float32 (n, d), y float32 in {0, 1}).

    Legitimate rows are correlated Gaussians. Each fraud row follows one of four
    fixed patterns: three shift the means of five features (mixed signs), the fourth
    only inflates three features' variance (no mean shift: a linear model cannot
    see it). The patterns are drawn from a fixed seed so every split shares them;
    `seed` draws the rows. On 200k rows a logistic regression reaches AP ~0.24, a
    64-32 MLP ~0.70 (scikit-learn, measured when this generator was tuned).
    """
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234)
    mix = np.eye(d) + 0.3 * patterns.standard_normal((d, d)) / np.sqrt(d)
    Z = rng.standard_normal((n, d))
    y = rng.random(n) < fraud_rate
    kind = rng.integers(0, 4, n)
    for p in range(3):
        cols = patterns.choice(d, 5, replace=False)
        shift = patterns.choice([-1.0, 1.0], 5) * patterns.uniform(1.2, 2.0, 5)
        rows = y & (kind == p)
        Z[np.ix_(rows, cols)] += shift
    cols = patterns.choice(d, 3, replace=False)
    rows = y & (kind == 3)
    Z[np.ix_(rows, cols)] *= 3.0
    return (Z @ mix.T).astype(np.float32), y.astype(np.float32)


def to_cached_df(spark, X: np.ndarray, y: np.ndarray, partitions: int = 2):
    """NumPy -> DataFrame(features array<float>, label double) via Arrow, cached and counted."""
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(X, np.float32).ravel())
    features = pa.FixedSizeListArray.from_arrays(flat, X.shape[1]).cast(pa.list_(pa.float32()))
    table = pa.table({"features": features, "label": pa.array(y.astype(np.float64))})
    df = spark.createDataFrame(table).repartition(partitions).cache()
    df.count()
    return df


def mlp(in_features: int, hidden: tuple[int, ...], seed: int = 0) -> Model:
    """in -> hidden... -> 1 logit, ReLU between layers (the fraud MLP is 40 -> 256 -> 128 -> 1)."""
    layers: list = []
    for units in hidden:
        layers += [Linear(units), ReLU()]
    return Model(Sequential([*layers, Linear(1)]), in_features=in_features, seed=seed)


def history_seconds(history: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds summed over groups. Shares in a history entry are of that group's wall time,
    and compute/sync are means over ranks, so share * wall_s is rank-mean seconds.

    scheduling_s = sum(wall) - sum(slowest rank's loop): time outside the iteration loops.
    (Summed before subtracting: a group's wall is the gap between two report arrivals at
    the driver, so per-group differences jitter around their mean and clamping each at 0,
    as the history's scheduling_share does, would bias the sum upwards.)"""
    wall = sum(h["wall_s"] for h in history)
    loop = sum(h.get("loop_s", (1.0 - h["scheduling_share"]) * h["wall_s"]) for h in history)
    return {
        "wall_s": wall,
        "compute_s": sum(h["compute_share"] * h["wall_s"] for h in history),
        "sync_s": sum(h["sync_share"] * h["wall_s"] for h in history),
        "scheduling_s": wall - loop,
        "loop_s": loop,
        "rendezvous_s": sum(h.get("rendezvous_s", 0.0) for h in history),
        "iterations": sum(h["iterations"] for h in history),
    }


def group_figures(history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per-group seconds from a DistributedTrainer history (grouped engine).

    launch_or_report: on a stage's first group, the previous stage's end + Spark job launch
    + broadcast fetch; inside a stage, the boundary report (snapshot, send, driver receipt).
    compute/sync are rank means (share * wall_s)."""
    out = []
    for h in history:
        setup, rendezvous = h.get("setup_s", 0.0), h.get("rendezvous_s", 0.0)
        out.append(
            {
                "wall": h["wall_s"],
                "launch_or_report": h["wall_s"] - setup - rendezvous - h["loop_s"],
                "setup": setup,
                "rendezvous": rendezvous,
                "loop": h["loop_s"],
                "compute": h["compute_share"] * h["wall_s"],
                "sync": h["sync_share"] * h["wall_s"],
                "cache_hits": h.get("data_cache_hits", 0),
                "stage_start": h["stage_start"],
                "first": h["start_iteration"] == 0,
            }
        )
    return out


@dataclass
class Probe:
    """Driver-side timer around the engines' run() (patched in, restored on exit)."""

    engine_s: list[float] = field(default_factory=list)

    def __enter__(self) -> Probe:
        self._saved = (GroupedEngine.run, PerIterationEngine.run)
        probe = self

        def timed(run):
            def wrapper(engine, blocks, rows):
                t0 = time.perf_counter()
                try:
                    return run(engine, blocks, rows)
                finally:
                    probe.engine_s.append(time.perf_counter() - t0)

            return wrapper

        GroupedEngine.run = timed(GroupedEngine.run)
        PerIterationEngine.run = timed(PerIterationEngine.run)
        return self

    def __exit__(self, *exc) -> None:
        GroupedEngine.run, PerIterationEngine.run = self._saved
