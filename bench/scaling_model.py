"""A scaling model of data-parallel training on Spark, calibrated on figures measured here.

One iteration = compute + exchange of the gradient + Spark scheduling per iteration.

Inputs (JSON lines): bench/netns_cluster.py runs (2 namespace hosts, shaped links, at
two or more link rates and batch sizes) and bench/spark_stage_cost.py runs (local[2]).

Fitted terms (S = gradient bytes, n workers, m = 2 per host, H = n / m hosts):

    B(rate)    per-direction link bandwidth: the raw duplex TCP stream (bytes/s)
    alpha      latency per ring step (s): pair all-reduce minus its wire time, / 2
    c_local    hierarchical local phases (s per gradient byte, what the wire does not hide)
    compute    t_c(b) = P (u0 + b u1): a memory-bound floor per parameter plus a per-sample
               term, from the flat 2x2 training runs at two batch sizes (step - sync)
    k_hier     compute slow-down in hierarchical blocks (all ranks compute at once)
    setup, rdv the trainer's task set-up and rendezvous per stage (bench/spark_overhead.py's
               fraud-MLP part, warm stages): added to the grouped engine's stage cost
               and, set-up only, to every step of the treeAggregate design
    C(k)       Spark job with one stage of k tasks: c0 + c1 k + w (waves - 1), waves =
               ceil(k / 2) on local[2] (c0, c1 from 1 and 2 tasks: one wave; w from 4 and
               8 tasks); barrier stages add d_barrier. On a cluster with a slot per
               worker a stage of n tasks is one wave: C(n) = c0 + c1 n (+ d_barrier)
    tree       broadcast + treeAggregate on local[2]: a_tree + c_tree S
    blocks     block-manager exchange (2 shuffles) on local[2]: 3 C(2) + 2 a_block + c_bm S

Designs (per iteration; scheduling amortised as the trainer's `auto` plans it):

    flat ring        2 (n-1) alpha + 2 (n-1)/n S/B                  + C_bar(n) / (G K)
    hierarchical     2 (H-1) alpha + 2 (H-1)/H S/B + c_local S      + C_bar(n) / (G K)
    bigdl_blocks     2 (n-1) a_block + 2 (n-1)/n S (c_bm + 1/B)     + C(n)   (a job per step)
    tree_aggregate   f(n) S (c_tree / 2 + 1/B) + log2(n) S/B + a_tree + 2 c1 (n - 2)
                     (a_tree is a whole broadcast + treeAggregate job of 2 tasks)
                     (f(n) = fan-in summed over treeAggregate's levels: n up to 4, else
                     2 ceil(sqrt n); broadcast by torrent: log2(n) wire passes)

`auto` (fraud_app/spark/planner.py): G = ceil(C (1-0.05) / (0.05 t)) <= 2000, K =
ceil(C (1-0.005) / (0.005 G t)) <= 10000, t = the iteration time without scheduling.

Held out: every netns figure at the rates other than --calibrate; Spark stages of 16+
tasks (fit on <= 8), barrier stages of 2 tasks (fit on 1), treeAggregate and block
exchange at the middle size (fit on the smallest and largest). `scaling_model_max_rel_error` is
the largest relative error over those. Projections: 1-1000 workers, 2 per host, at the
calibration rate, for the fraud MLP and a 10M-parameter model; plots with --plots DIR.

Run: .venv/bin/python bench/scaling_model.py bench/measured/netns_cluster_scale.jsonl \
         bench/measured/spark_stage_cost.jsonl --plots docs/scaling
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

MODELS = {"fraud_mlp": (43_521, 256), "10m_params": (10_000_000, 256)}  # params, batch/worker
RANKS_PER_HOST = 2
SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
DESIGNS = ("flat", "hierarchical", "bigdl_blocks", "tree_aggregate")
GROUP_TARGET, STAGE_TARGET, MAX_GROUP, MAX_STAGE_GROUPS = 0.05, 0.005, 2000, 10_000


@dataclass(frozen=True)
class Fit:
    bandwidth: dict[str, float]
    alpha: float
    c_local: float
    u0: float  # s per parameter per step (memory-bound floor)
    u1: float  # s per parameter per sample
    k_hier: float
    c0: float
    c1: float
    wave: float  # s per extra wave of tasks (local[2]: 2 slots)
    d_barrier: float
    a_tree: float
    c_tree: float
    a_block: float
    c_bm: float
    setup: float = 0.0  # s: a trainer task's set-up (data, model) in a new stage
    rendezvous: float = 0.0  # s: the grouped engine's rendezvous per stage

    def stage(self, k: int, barrier: bool = False, slots: int | None = None) -> float:
        """A job of one stage of k tasks; `slots` None = a slot per task (one wave)."""
        waves = 1 if slots is None else math.ceil(k / slots)
        return self.c0 + self.c1 * k + self.wave * (waves - 1) + (self.d_barrier if barrier else 0)

    def compute(self, params: int, batch: int) -> float:
        return params * (self.u0 + batch * self.u1)


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def pair_time(run: dict) -> float:
    return run["allreduce_mib"] * 2**20 / (run["allreduce_busbw_mb_s"] * 1e6)


def compute_time(run: dict, design: str = "flat") -> float:
    step = run["train_batch_per_rank"] * 4 / run[f"samples_per_s_{design}_2x2"]
    return step - run[f"sync_ms_per_step_{design}"] / 1e3


def ring(n: int, alpha: float, size: float, b: float) -> float:
    return 0.0 if n <= 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * size / b


def calibrate(
    net: list[dict], spark: list[dict], rate: str, alpha_floor: float = 0.0, trainer=()
) -> Fit:
    cal = [r for r in net if r["link_rate"] == rate]
    if not cal:
        raise SystemExit(f"no netns run at the calibration rate {rate!r}")
    rates = sorted({r["link_rate"] for r in net})
    bw = {
        x: statistics.median(
            r["raw_duplex_mb_s_per_direction"] * 1e6 for r in net if r["link_rate"] == x
        )
        for x in rates
    }
    b, nbytes = bw[rate], cal[0]["allreduce_mib"] * 2**20
    alpha = max(alpha_floor, statistics.median(pair_time(r) - nbytes / b for r in cal) / 2)
    c_local = statistics.median(
        max(
            0.0, r["allreduce_ms_2x2_hierarchical"] / 1e3 - ring(2, alpha, r["train_params"] * 4, b)
        )
        / (r["train_params"] * 4)
        for r in cal
    )
    u0, u1 = _line(
        [r["train_batch_per_rank"] for r in cal], [compute_time(r) / r["train_params"] for r in cal]
    )
    k_hier = statistics.median(compute_time(r, "hierarchical") / compute_time(r) for r in cal)
    sp = spark[-1]
    stages = {int(k): v for k, v in sp["stage_s_by_tasks"].items()}
    c0, c1 = _line([1, 2], [stages[1], stages[2]])
    extra = [(math.ceil(k / 2) - 1, stages[k] - c0 - c1 * k) for k in (4, 8)]
    wave = sum(x * y for x, y in extra) / sum(x * x for x, _ in extra)
    d_barrier = sp["barrier_stage_s_by_tasks"]["1"] - (c0 + c1)
    a_tree, c_tree = _line(*_ends(sp["tree_aggregate_s_by_floats"]))
    a_b, c_bm = _line(*_ends(sp["block_exchange_s_by_floats"]))
    a_block = max(0.0, (a_b - 3 * (c0 + 2 * c1)) / 2)
    # Task set-up and rendezvous: the fraud-MLP part of bench/spark_overhead.py (warm stages)
    warm = [r["fraud_warm_stage_start_breakdown_ms"] for r in trainer]
    setup = statistics.median(w["setup"] for w in warm) / 1e3 if warm else 0.0
    rdv = statistics.median(w["rendezvous"] for w in warm) / 1e3 if warm else 0.0
    return Fit(
        bw, alpha, c_local, u0, u1, k_hier, c0, c1, wave, d_barrier, a_tree, c_tree, a_block, c_bm,
        setup, rdv,
    )  # fmt: skip


def _ends(by_floats: dict) -> tuple[list[float], list[float]]:
    """Bytes and seconds at the smallest and largest size (the middle one is held out)."""
    pts = sorted((int(k), v) for k, v in by_floats.items())
    return [4 * pts[0][0], 4 * pts[-1][0]], [pts[0][1], pts[-1][1]]


def _middle(by_floats: dict) -> tuple[int, float]:
    pts = sorted((int(k), v) for k, v in by_floats.items())
    return pts[len(pts) // 2]


def exchange_time(design: str, n: int, size: float, fit: Fit, b: float) -> float:
    """Seconds per iteration moving the gradient (no scheduling)."""
    hosts = max(1, n // RANKS_PER_HOST)
    if design == "flat" or (design == "hierarchical" and (hosts == 1 or n == hosts)):
        return ring(n, fit.alpha, size, b)
    if design == "hierarchical":
        return ring(hosts, fit.alpha, size, b) + fit.c_local * size
    if design == "bigdl_blocks":
        if n == 1:
            return 0.0
        return 2 * (n - 1) * fit.a_block + 2 * (n - 1) / n * size * (fit.c_bm + 1 / b)
    fan_in = n if n <= 4 else 2 * math.ceil(math.sqrt(n))
    wire = (fan_in + math.ceil(math.log2(n))) * size / b if n > 1 else 0.0
    return fit.a_tree + fan_in * size * fit.c_tree / 2 + wire


def auto_plan(fit: Fit, n: int, t_iter: float) -> tuple[int, int]:
    """The group size and groups per stage the planner's `auto` picks."""
    cost = fit.stage(n, barrier=True) + fit.setup + fit.rendezvous
    g = min(MAX_GROUP, max(1, math.ceil(cost * (1 - GROUP_TARGET) / (GROUP_TARGET * t_iter))))
    k = math.ceil(cost * (1 - STAGE_TARGET) / (STAGE_TARGET * g * t_iter))
    return g, min(MAX_STAGE_GROUPS, max(1, k))


def iteration(design: str, n: int, params: int, batch: int, fit: Fit, b: float) -> dict:
    t_c = fit.compute(params, batch)
    t_x = exchange_time(design, n, params * 4, fit, b)
    if design in ("flat", "hierarchical"):
        g, k = auto_plan(fit, n, t_c + t_x)
        sched = (fit.stage(n, barrier=True) + fit.setup + fit.rendezvous) / (g * k)
    elif design == "bigdl_blocks":  # a Spark job per iteration
        g = k = 1
        sched = fit.stage(n)
    else:  # a_tree already holds the job (measured with 2 tasks); more tasks, 2 stages
        g = k = 1
        sched = 2 * fit.c1 * max(0, n - 2) + fit.setup  # every step's tasks build the model
    t = t_c + t_x + sched
    return {"t": t, "compute": t_c, "exchange": t_x, "sched": sched, "G": g, "K": k}


# -- held-out predictions -----------------------------------------------------------------
def predict_netns(run: dict, fit: Fit) -> dict[str, tuple[float, float]]:
    """(predicted, measured) for every figure of a netns run."""
    b = fit.bandwidth[run["link_rate"]]
    params, batch = run["train_params"], run["train_batch_per_rank"]
    out = {
        "pair_allreduce_s": (ring(2, fit.alpha, run["allreduce_mib"] * 2**20, b), pair_time(run))
    }
    for design in ("flat", "hierarchical"):
        t_x = exchange_time(design, 4, params * 4, fit, b)
        t_c = fit.compute(params, batch) * (fit.k_hier if design == "hierarchical" else 1.0)
        out[f"allreduce_2x2_{design}_s"] = (t_x, run[f"allreduce_ms_2x2_{design}"] / 1e3)
        out[f"samples_per_s_2x2_{design}"] = (4 * batch / (t_c + t_x), run[f"samples_per_s_{design}_2x2"])  # fmt: skip
    return out


def predict_spark(run: dict, fit: Fit) -> dict[str, tuple[float, float]]:
    out = {}
    for k, v in run["stage_s_by_tasks"].items():
        if int(k) > 8:
            out[f"stage_{k}_tasks_s"] = (fit.stage(int(k), slots=2), v)
    out["barrier_stage_2_tasks_s"] = (fit.stage(2, True), run["barrier_stage_s_by_tasks"]["2"])
    size, v = _middle(run["tree_aggregate_s_by_floats"])
    out[f"tree_aggregate_{size}_floats_s"] = (fit.a_tree + fit.c_tree * 4 * size, v)
    size, v = _middle(run["block_exchange_s_by_floats"])
    fixed = 3 * fit.stage(2) + 2 * fit.a_block
    out[f"block_exchange_{size}_floats_s"] = (fixed + fit.c_bm * 4 * size, v)
    return out


SMALL_MLP = (16 * 8 + 8 + 8 + 1, 16)  # bench/spark_overhead.py part A: params, batch/worker


def predict_trainer(run: dict, fit: Fit) -> dict[str, tuple[float, float]]:
    """The trainer on local[2] (bench/spark_overhead.py), 2 workers, the small MLP:
    engine per_iteration = the treeAggregate design; grouped, G = 1, one stage per group =
    a barrier stage + task set-up + rendezvous per iteration. Set-up and rendezvous come
    from the same run's fraud-MLP part, so these small-MLP figures are held out."""
    params, batch = SMALL_MLP
    ms = run["ms_per_iteration"]
    t_tree = iteration("tree_aggregate", 2, params, batch, fit, math.inf)["t"]
    t_g1 = fit.compute(params, batch) + fit.stage(2, barrier=True) + fit.setup + fit.rendezvous
    return {
        "trainer_per_iteration_s": (t_tree, ms["per_iteration"] / 1e3),
        "trainer_grouped_g1_s": (t_g1, ms["grouped_g1"] / 1e3),
    }


# -- projections --------------------------------------------------------------------------
def project(fit: Fit, rate: str) -> dict:
    b, result = fit.bandwidth[rate], {}
    for name, (params, batch) in MODELS.items():
        rows, below_half, peak = [], {}, {}
        for n in SIZES:
            row: dict = {"workers": n}
            for design in DESIGNS:
                it = iteration(design, n, params, batch, fit, b)
                eff, rate_n = it["compute"] / it["t"], n * batch / it["t"]
                row[design] = {"samples_per_s": round(rate_n), "efficiency": round(eff, 3)}
                if design in ("flat", "hierarchical"):
                    row[design].update(group_size=it["G"], groups_per_stage=it["K"])
                if eff < 0.5 and design not in below_half:
                    below_half[design] = n
                if rate_n > peak.get(design, (0, 0.0))[1]:
                    peak[design] = (n, rate_n)
            rows.append(row)
        result[name] = {
            "params": params,
            "batch_per_worker": batch,
            "rows": rows,
            "efficiency_below_0.5_at_workers": below_half,
            "throughput_peaks_at_workers": {d: p[0] for d, p in peak.items()},
        }
    return result


def load_lines(paths: list[Path]) -> list[dict]:
    return [
        json.loads(line)
        for path in paths
        for line in path.read_text().splitlines()
        if line.strip().startswith("{")
    ]


def _errors(pairs: dict[str, tuple[float, float]], tag: str) -> dict:
    return {
        f"{tag}:{key}": {
            "predicted": round(p, 4), "measured": round(m, 4), "rel_error": round(abs(p - m) / m, 3)
        }
        for key, (p, m) in pairs.items()
    }  # fmt: skip


def fit_summary(fit: Fit) -> dict:
    return {
        "bandwidth_mb_s": {k: round(v / 1e6, 1) for k, v in fit.bandwidth.items()},
        "alpha_ms": round(fit.alpha * 1e3, 3),
        "c_local_ns_per_byte": round(fit.c_local * 1e9, 3),
        "compute_ns_per_param": {"floor": round(fit.u0 * 1e9, 2), "per_sample": round(fit.u1 * 1e9, 3)},
        "k_hier": round(fit.k_hier, 3),
        "stage_ms": {"c0": round(fit.c0 * 1e3, 1), "c1_per_task": round(fit.c1 * 1e3, 2),
                     "wave_local2": round(fit.wave * 1e3, 1),
                     "barrier_extra": round(fit.d_barrier * 1e3, 1)},
        "tree": {"a_ms": round(fit.a_tree * 1e3, 1), "c_ns_per_byte": round(fit.c_tree * 1e9, 2)},
        "blocks": {"a_block_ms": round(fit.a_block * 1e3, 1), "c_ns_per_byte": round(fit.c_bm * 1e9, 2)},
        "trainer_ms": {"setup": round(fit.setup * 1e3, 1), "rendezvous": round(fit.rendezvous * 1e3, 1)},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON lines (netns + spark_stage_cost)")
    parser.add_argument("--calibrate", default="1gbit", help="link rate whose runs calibrate")
    parser.add_argument("--plots", type=Path, help="write SVG plots into this directory")
    parser.add_argument(
        "--alpha-floor-ms", type=float, default=0.125,
        help="lower bound of the per-ring-step latency (default: a 1-float all-reduce of 2 "
        "ranks takes ~250 us = 2 steps, /work/shared/ENVIRONMENT.md); the pair fit on a "
        "16 MiB all-reduce cannot resolve it when the ring matches the raw stream",
    )  # fmt: skip
    args = parser.parse_args(argv)
    lines = load_lines(args.runs)
    net = [r for r in lines if r.get("benchmark") == "netns_cluster"]
    spark = [r for r in lines if r.get("benchmark") == "spark_stage_cost"]
    if not net or not spark:
        print("scaling_model: needs netns_cluster and spark_stage_cost lines", file=sys.stderr)
        return 2
    trainer = [r for r in lines if r.get("benchmark") == "spark_overhead"]
    fit = calibrate(net, spark, args.calibrate, args.alpha_floor_ms / 1e3, trainer)
    errors: dict = {}
    for i, run in enumerate(r for r in net if r["link_rate"] != args.calibrate):
        tag = f"{run['link_rate']}#{i} batch {run['train_batch_per_rank']}"
        errors.update(_errors(predict_netns(run, fit), tag))
    errors.update(_errors(predict_spark(spark[-1], fit), "local[2]"))
    for run in trainer:
        errors.update(_errors(predict_trainer(run, fit), "local[2] trainer"))
    projection = project(fit, args.calibrate)
    if args.plots:
        from _scaling_plots import write_plots

        write_plots(projection, args.plots, args.calibrate)
    print(json.dumps({
        "benchmark": "scaling_model",
        "calibrated_on": args.calibrate,
        "fit": fit_summary(fit),
        "predictions": errors,
        "scaling_model_max_rel_error": max(e["rel_error"] for e in errors.values()),
        "projection": projection,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
