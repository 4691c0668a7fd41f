"""A first scaling model of data-parallel training, calibrated on the namespace-cluster runs.

One iteration = compute + all-reduce (scheduling, Spark's per-stage launch cost, is NOT in
this first version: the namespace runs have no Spark). All terms are fitted to the JSON
lines of bench/netns_cluster.py (one per run; each run gives a link rate):

    B        per-direction link bandwidth: the raw duplex TCP stream (bytes/s), per rate
    alpha    latency per ring step (s): from the 2-rank pair, t_allreduce - t_raw = 2 alpha
    c_local  hierarchical local phases (s per byte of gradient): from the 2x2 hierarchical
             all-reduce minus its wire and latency terms
    gemm     training FLOP/s per rank: 6 * params * batch / (step time - sync time)

Designs (S gradient bytes, n ranks, m ranks per host, H = n / m hosts, ranks numbered
host by host, so the flat ring crosses each host link once per direction):

    flat ring     2 (n-1) alpha + 2 (n-1)/n S / B
    hierarchical  2 (H-1) alpha + 2 (H-1)/H S / B + c_local S      (m > 1, H > 1)

Calibration uses the runs at the FIRST rate given (--calibrate, default 1gbit); every
figure of the runs at the other rates is then PREDICTED and compared with its
measurement (pair all-reduce, 2x2 flat and hierarchical all-reduce, 2x2 training
throughput of both). `scaling_model_max_rel_error` is the largest relative error of
those held-out predictions. Then it projects throughput and scaling efficiency for
1-1000 ranks (2 per host) at the calibration rate for the fraud MLP (44 k parameters)
and a 10 M-parameter model, and the rank count where each design's efficiency drops
below 0.5. Not modelled yet: BigDL-style exchange through Spark's block manager, a
driver treeAggregate, Spark scheduling, group size / groups per stage.

Run: .venv/bin/python bench/scaling_model.py bench/measured/netns_cluster.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

MODELS = {"fraud_mlp": 44_000, "10m_params": 10_000_000}  # parameters (float32)
BATCH = 256  # samples per rank per iteration in the projections
RANKS_PER_HOST = 2
SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]


@dataclass(frozen=True)
class Fit:
    bandwidth: dict[str, float]  # rate -> bytes/s per direction
    alpha: float
    c_local: float
    gemm: float


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def pair_time(run: dict) -> float:
    return run["allreduce_mib"] * 2**20 / (run["allreduce_busbw_mb_s"] * 1e6)


def calibrate(runs: list[dict], rate: str) -> Fit:
    cal = [r for r in runs if r["link_rate"] == rate]
    if not cal:
        raise SystemExit(f"no run at the calibration rate {rate!r}; have {_rates(runs)}")
    bandwidth = {
        r: _median([x for x in runs if x["link_rate"] == r], "raw_duplex_mb_s_per_direction") * 1e6
        for r in _rates(runs)
    }
    b = bandwidth[rate]
    nbytes = cal[0]["allreduce_mib"] * 2**20
    alpha = max(0.0, statistics.median(pair_time(r) - nbytes / b for r in cal) / 2)
    size = cal[0]["train_params"] * 4
    wire_hier = ring(2, alpha, size, b)  # lanes of H = 2 hosts
    c_local = max(
        0.0, statistics.median(r["allreduce_ms_2x2_hierarchical"] / 1e3 - wire_hier for r in cal)
    )
    c_local /= size
    gemm = statistics.median(
        6 * r["train_params"] * r["train_batch_per_rank"] / compute_time(r) for r in cal
    )
    return Fit(bandwidth, alpha, c_local, gemm)


def compute_time(run: dict) -> float:
    step = run["train_batch_per_rank"] * 4 / run["samples_per_s_flat_2x2"]
    return step - run["sync_ms_per_step_flat"] / 1e3


def ring(n: int, alpha: float, size: float, b: float) -> float:
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * size / b


def allreduce_time(design: str, n: int, size: float, fit: Fit, b: float) -> float:
    hosts = max(1, n // RANKS_PER_HOST)
    if design == "flat" or hosts == 1 or n == hosts:
        return ring(n, fit.alpha, size, b)
    return ring(hosts, fit.alpha, size, b) + fit.c_local * size


def predict(run: dict, fit: Fit) -> dict[str, tuple[float, float]]:
    """(predicted, measured) for every figure of a run."""
    b = fit.bandwidth[run["link_rate"]]
    size, batch = run["train_params"] * 4, run["train_batch_per_rank"]
    t_compute = 6 * run["train_params"] * batch / fit.gemm
    out = {
        "pair_allreduce_s": (ring(2, fit.alpha, run["allreduce_mib"] * 2**20, b), pair_time(run))
    }
    for design in ("flat", "hierarchical"):
        t_ar = allreduce_time(design, 4, size, fit, b)
        out[f"allreduce_2x2_{design}_s"] = (t_ar, run[f"allreduce_ms_2x2_{design}"] / 1e3)
        out[f"samples_per_s_2x2_{design}"] = (
            4 * batch / (t_compute + t_ar),
            run[f"samples_per_s_{design}_2x2"],
        )
    return out


def project(fit: Fit, rate: str) -> dict:
    b, result = fit.bandwidth[rate], {}
    for name, params in MODELS.items():
        t_compute = 6 * params * BATCH / fit.gemm
        rows, limits = [], {}
        for n in SIZES:
            row = {"ranks": n}
            for design in ("flat", "hierarchical"):
                t = t_compute + allreduce_time(design, n, params * 4, fit, b)
                efficiency = t_compute / t
                row[design] = {
                    "samples_per_s": round(n * BATCH / t),
                    "efficiency": round(efficiency, 3),
                }
                if efficiency < 0.5 and design not in limits:
                    limits[design] = n
            rows.append(row)
        result[name] = {"rows": rows, "efficiency_below_0.5_at_ranks": limits}
    return result


def _rates(runs: list[dict]) -> list[str]:
    return sorted({r["link_rate"] for r in runs})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON lines of bench/netns_cluster.py")
    parser.add_argument("--calibrate", default="1gbit", help="link rate whose runs calibrate")
    args = parser.parse_args(argv)
    runs = [
        json.loads(line)
        for path in args.runs
        for line in path.read_text().splitlines()
        if line.strip().startswith("{")
    ]
    runs = [r for r in runs if r.get("benchmark") == "netns_cluster"]
    fit = calibrate(runs, args.calibrate)
    held_out = [r for r in runs if r["link_rate"] != args.calibrate]
    errors = {}
    for i, run in enumerate(held_out):
        for key, (pred, meas) in predict(run, fit).items():
            errors[f"{run['link_rate']}#{i}:{key}"] = {
                "predicted": round(pred, 4), "measured": round(meas, 4),
                "rel_error": round(abs(pred - meas) / meas, 3),
            }  # fmt: skip
    if not errors:
        print(f"scaling_model: no held-out runs (all at {args.calibrate})", file=sys.stderr)
        return 2
    print(json.dumps({
        "benchmark": "scaling_model",
        "calibrated_on": args.calibrate,
        "fit": {"bandwidth_mb_s": {k: round(v / 1e6, 1) for k, v in fit.bandwidth.items()},
                "alpha_ms": round(fit.alpha * 1e3, 3), "c_local_ns_per_byte": round(fit.c_local * 1e9, 3),
                "gemm_gflop_s": round(fit.gemm / 1e9, 2)},
        "predictions": errors,
        "scaling_model_max_rel_error": max(e["rel_error"] for e in errors.values()),
        "projection": project(fit, args.calibrate),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
