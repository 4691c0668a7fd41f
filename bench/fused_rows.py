"""Benchmark: the fused plan (dlcore.inference) on its own, and whether a row's float32
score depends on its position in a batch.

Builds bench/scoring.py's model (5 members, MLP 128-64, 35 features, the demo's fitted
8-bin encoding; `--encoding none`: the plain MLP) and times
`FraudEnsemble.predict_proba` and the plan's `proba_and_gradient` (the reasons path) on
10,000 rows, one BLAS thread, `time.process_time`, best of `--repeats`. Also scores one
row at every offset of a batch (BLOCK_ROWS + 16 rows of others) and counts the distinct
bit patterns it gets (1: the guarantee holds).

Runs against whatever code is on PYTHONPATH, so the same file times old and new code:

    PYTHONPATH=$PWD .venv/bin/python bench/fused_rows.py
    PYTHONPATH=/path/to/old/tree:$PWD .venv/bin/python bench/fused_rows.py --label old

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
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


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return round(min(times) * 1000, 2)


def patterns_by_offset(ensemble, rows: np.ndarray, block: int) -> int:
    """Distinct bit patterns of one row's score placed at every offset of a batch."""
    seen = set()
    x = rows[:1]
    for offset in range(block + 16):
        batch = rows[1 : block + 17].copy()
        batch[offset] = x
        seen.add(ensemble.predict_proba(batch)[offset].tobytes())
    return len(seen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--encoding", choices=["piecewise_linear", "none"], default="piecewise_linear")
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    import dlcore.inference as inference

    tmp = Path(tempfile.mkdtemp(prefix="bench-fused-"))
    ens = build_ensemble(35, 5, (128, 64), tmp / "ensemble", args.encoding)
    X = feature_rows(args.rows, 35, seed=3)
    fused = ens.fused()
    with threadpool_limits(1, user_api="blas"):
        proba_ms = best_ms(lambda: ens.predict_proba(X), args.repeats)
        grad_ms = best_ms(lambda: fused.proba_and_gradient(X), args.repeats)
        patterns = patterns_by_offset(ens, X, inference.BLOCK_ROWS)
    print(
        json.dumps(
            {
                "label": args.label,
                "encoding": args.encoding,
                "rows": args.rows,
                "rows_per_block": getattr(fused, "rows_per_block", inference.BLOCK_ROWS),
                "predict_proba_ms": proba_ms,
                "proba_and_gradient_ms": grad_ms,
                "score_bit_patterns_by_offset": patterns,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "utc": time.strftime("%H:%M:%S", time.gmtime()),
            }
        )
    )


if __name__ == "__main__":
    main()
