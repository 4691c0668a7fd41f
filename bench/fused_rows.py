"""Benchmark: the fused plan (dlcore.inference) on its own, and whether a row's float32
score depends on its position in a batch.

Builds bench/scoring.py's model (5 members, MLP 128-64, 35 features, the demo's fitted
8-bin encoding; `--encoding none`: the plain MLP) and times
`FraudEnsemble.predict_proba` and the plan's `proba_and_gradient` (the reasons path) on
10,000 rows, one BLAS thread, `time.process_time`, best of `--repeats` (predict_proba
is the plan's `proba` on float32 rows). Also scores one
row at every offset of a batch (BLOCK_ROWS + 16 rows of others) and counts the distinct
bit patterns it gets (1: the guarantee holds).

`--old FILE`: an older dlcore/inference.py (e.g. `git show fee039c:dlcore/inference.py >
/tmp/old_inference.py`), loaded beside this tree's as another module (it must import only
dlcore modules this tree still has), its plan compiled from the same members and timed
in the same process, old and new alternated call by call (min over the repeats of each):
the A/B without the load drifting between two runs.

    PYTHONPATH=$PWD .venv/bin/python bench/fused_rows.py
    PYTHONPATH=$PWD .venv/bin/python bench/fused_rows.py --old /tmp/old_inference.py

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import build_ensemble, feature_rows


def best_ms(fns: list, repeats: int) -> list[float]:
    """Min CPU ms of each function, the functions called in turn, `repeats` rounds."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            t = time.process_time()
            fn()
            out.append(time.process_time() - t)
    return [round(min(t) * 1000, 2) for t in times]


def load_old(path: str):
    spec = importlib.util.spec_from_file_location("old_inference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_inference"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def patterns_by_offset(plan, rows: np.ndarray, block: int) -> int:
    """Distinct bit patterns of one row's score placed at every offset of a batch."""
    seen = set()
    x = rows[:1]
    for offset in range(block + 16):
        batch = rows[1 : block + 17].copy()
        batch[offset] = x
        seen.add(plan.proba(batch)[offset].tobytes())
    return len(seen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--encoding", choices=["piecewise_linear", "none"], default="piecewise_linear")
    ap.add_argument("--label", default="")
    ap.add_argument("--old", default="", help="an older dlcore/inference.py to time beside")
    args = ap.parse_args()

    import dlcore.inference as inference

    tmp = Path(tempfile.mkdtemp(prefix="bench-fused-"))
    ens = build_ensemble(35, 5, (128, 64), tmp / "ensemble", args.encoding)
    X = feature_rows(args.rows, 35, seed=3)
    fused = ens.fused()
    plans = {"new": fused}
    if args.old:
        plans["old"] = load_old(args.old).compile_ensemble(ens.members)
    out = {"label": args.label, "encoding": args.encoding, "rows": args.rows}
    with threadpool_limits(1, user_api="blas"):
        names = list(plans)
        proba = best_ms([lambda p=plans[n]: p.proba(X) for n in names], args.repeats)
        grad = best_ms([lambda p=plans[n]: p.proba_and_gradient(X) for n in names], args.repeats)
        for name, a, b in zip(names, proba, grad, strict=True):
            plan = plans[name]
            out[name] = {
                "rows_per_block": getattr(plan, "rows_per_block", inference.BLOCK_ROWS),
                "proba_ms": a,
                "proba_and_gradient_ms": b,
                "score_bit_patterns_by_offset": patterns_by_offset(plan, X, inference.BLOCK_ROWS),
            }
    if args.old:
        out["proba_ratio_new_over_old"] = round(out["new"]["proba_ms"] / out["old"]["proba_ms"], 3)
        out["gradient_ratio_new_over_old"] = round(
            out["new"]["proba_and_gradient_ms"] / out["old"]["proba_and_gradient_ms"], 3
        )
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    out["utc"] = time.strftime("%H:%M:%S", time.gmtime())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
