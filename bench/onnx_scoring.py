"""ONNX Runtime (1 thread) vs dlcore: scoring throughput of the same FraudEnsemble on the same rows.

The ensemble is the default fraud architecture (fraud_app.models.builders.build_model with the
default ModelSection: Standardize -> Linear 128 -> ReLU -> Dropout -> Linear 64 -> ReLU ->
Dropout -> Linear 1) times `--members`, exported with fraud_app.interop.onnx_export. Both sides
score the rows in chunks of `--chunk` (a Spark Arrow batch is ~10k rows), one thread each
(dlcore: DLCORE BLAS threads = 1; ORT: intra/inter-op threads = 1), alternating rounds so load
changes hit both. Informational: it tells what a JVM/C++ service using ONNX Runtime can expect
per core relative to our NumPy scorer.

Figures (this run):
  onnxruntime_vs_dlcore_scoring_ratio   ORT rows/s / dlcore rows/s (median round of each)
  ratio_per_round                       the same ratio within each round (spread = noise)
  max_abs_diff                          largest |p_ort - p_dlcore| over all rows

Run: .venv/bin/python bench/onnx_scoring.py [--rows 200000] [--features 35] [--members 5]
Needs the onnx extra (`pip install -e '.[onnx]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from dlcore.backends import set_num_threads
from fraud_app.interop.onnx_export import ensemble_to_onnx, save_onnx
from fraud_app.models.builders import build_model
from fraud_app.models.config import ModelSection
from fraud_app.models.ensemble import FraudEnsemble


def make_ensemble(members: int, features: int) -> FraudEnsemble:
    rng = np.random.default_rng(0)
    models = []
    for k in range(members):
        model = build_model(ModelSection(), features, seed=k)
        model.layer.layers[0].set_statistics(
            rng.normal(size=features), rng.uniform(0.5, 2, features)
        )
        models.append(model)
    return FraudEnsemble(models, [f"f{i}" for i in range(features)], {"bench": True})


def ort_session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def timed(fn, X: np.ndarray, chunk: int) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    out = np.concatenate([fn(X[i : i + chunk]) for i in range(0, len(X), chunk)])
    return time.perf_counter() - t0, out


def measure(dl_score, ort_score, X: np.ndarray, args) -> tuple:
    """Alternating rounds; rows/s of the median round of each side, and the last outputs."""
    dl_s, ort_s = [], []
    for r in range(args.rounds):
        d, p_dl = timed(dl_score, X, args.chunk)
        o, p_ort = timed(ort_score, X, args.chunk)
        dl_s.append(d)
        ort_s.append(o)
        print(
            f"round {r}: dlcore {len(X) / d:,.0f} rows/s, onnxruntime {len(X) / o:,.0f} rows/s",
            flush=True,
        )
    ratios = [round(d / o, 3) for d, o in zip(dl_s, ort_s, strict=True)]
    rates = len(X) / statistics.median(dl_s), len(X) / statistics.median(ort_s)
    return (*rates, ratios, p_dl, p_ort)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=35)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--out", default="work/bench/ensemble.onnx", help="where to write the ONNX file"
    )
    args = ap.parse_args()
    set_num_threads(1)
    ensemble = make_ensemble(args.members, args.features)
    path = save_onnx(ensemble_to_onnx(ensemble, model_version="bench"), args.out)
    session = ort_session(str(path))
    X = np.random.default_rng(1).normal(0, 2, (args.rows, args.features)).astype(np.float32)

    def ort_score(chunk: np.ndarray) -> np.ndarray:
        return session.run(["fraud_probability"], {"features": chunk})[0]

    timed(ensemble.predict_proba, X[: args.chunk], args.chunk)  # warm-up both
    timed(ort_score, X[: args.chunk], args.chunk)
    load_start = os.getloadavg()[0]
    dl_rate, ort_rate, ratios, p_dl, p_ort = measure(ensemble.predict_proba, ort_score, X, args)
    result = {
        "rows": args.rows,
        "features": args.features,
        "members": args.members,
        "chunk": args.chunk,
        "rounds": args.rounds,
        "dlcore_rows_per_s": round(dl_rate),
        "onnxruntime_rows_per_s": round(ort_rate),
        "onnxruntime_vs_dlcore_scoring_ratio": round(ort_rate / dl_rate, 3),
        "ratio_per_round": ratios,
        "max_abs_diff": float(np.max(np.abs(p_ort.astype(np.float64) - p_dl))),
        "onnx_bytes": path.stat().st_size,
        "threads": 1,
        "dlcore_backend": ensemble.members[0].ops.name,
        "load_avg_start": round(load_start, 2),
        "load_avg_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
