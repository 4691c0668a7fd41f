"""Benchmark: the fused plan's GEMM shapes in a fresh process, before and after a first
("primer") GEMM, NumPy's BLAS at one thread (dlcore/row_blocks.py `warm_blas`).

On the project's AVX2 EPYC, OpenBLAS 0.3.31's one-thread sgemm ran products with 256
output columns (the plan's W^T @ block) 2-3.5x slower, to the same bits, until the process
had run a GEMM of a suitable larger shape; a Spark Python worker runs none, so the whole
scoring job paid it. Each primer runs in its own fresh process (only NumPy and
threadpoolctl loaded), then the plan shapes are timed (sum over shapes of the best of 5
calls, CPU ms).

    PYTHONPATH=$PWD .venv/bin/python bench/blas_warmup.py [--dtype float64]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

# (n_out, k) of bench/scoring.py's encoded model (first layer, its gradient, the
# 128-64 layers, the output) and of the plain MLP's first layer; 256 columns each
SHAPES = [(640, 316), (315, 640), (64, 128), (128, 64), (5, 320), (640, 36)]
# name: (rows, k, columns) of the primer product, row-major: (rows, k) @ (k, columns)
PRIMERS = {
    "none": None,
    "warm_blas (1024x64 @ 64x1024)": (1024, 64, 1024),
    "old layout 256x316 @ 316x640": (256, 316, 640),
    "256x36 @ 36x640": (256, 36, 640),
    "640x64 @ 64x640": (640, 64, 640),
    "2048x8 @ 8x2048": (2048, 8, 2048),
    "256x256 @ 256x256": (256, 256, 256),
    "512x8 @ 8x1024": (512, 8, 1024),
    "16x512 @ 512x2048": (16, 512, 2048),
    "2048x512 @ 512x16": (2048, 512, 16),
}

CHILD = """
import sys, time, numpy as np
from threadpoolctl import threadpool_limits
dt, primer, shapes = np.dtype(sys.argv[1]), eval(sys.argv[2]), eval(sys.argv[3])
rng = np.random.default_rng(0)
with threadpool_limits(1, user_api="blas"):
    if primer:
        m, k, n = primer
        np.ones((m, k), dt) @ np.ones((k, n), dt)
    total = 0.0
    for n_out, k in shapes:
        W = rng.standard_normal((n_out, k)).astype(dt)
        A = rng.standard_normal((k, 256)).astype(dt)
        C = np.empty((n_out, 256), dt)
        best = float("inf")
        for _ in range(6):
            c = time.process_time()
            np.matmul(W, A, out=C)
            best = min(best, time.process_time() - c)
        total += best
print(f"{total * 1e3:.2f}")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    print(f"plan shapes {SHAPES} x 256 columns, {args.dtype}, 1 BLAS thread, fresh processes")
    for name, primer in PRIMERS.items():
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.dtype, repr(primer), repr(SHAPES)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"{name:>32}: plan shapes {out.stdout.strip()} ms")


if __name__ == "__main__":
    main()
