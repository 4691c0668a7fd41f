"""Measurement: which positions of a GEMM block NumPy's BLAS computes alike.

For each product shape of the demo-sized fused plan (k inputs -> n outputs) and both
layouts, one random row is written at EVERY position of a block (all rows the same) and
the positions are grouped by the bits of their result (3 random rows; two positions are
in one class when all three agree):

  row: C (rows, n) = A (rows, k) @ W (k, n), NumPy's row-major product: the block's rows
       are BLAS's N dimension (OpenBLAS computes C^T = W^T A^T column-major)
  col: C^T (n, rows) = W^T (n, k) @ A^T (k, rows): the block's rows are BLAS's M
       dimension (dlcore.inference's layout since session 17)

    PYTHONPATH=$PWD .venv/bin/python bench/gemm_row_classes.py --threads 1 --rows 256
    PYTHONPATH=$PWD .venv/bin/python bench/gemm_row_classes.py --threads 2
    PYTHONPATH=$PWD .venv/bin/python bench/gemm_row_classes.py --dtype float64
    PYTHONPATH=$PWD .venv/bin/python bench/gemm_row_classes.py --sweep 128,240,256,272,320,384,512

One line per shape and layout: the classes as runs of positions; `--sweep`: per block
height, the classes common to every `col` shape and the largest one's size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcore.row_blocks import aligned_empty

SHAPES = [(381, 640), (36, 640), (128, 64), (64, 128), (320, 5), (640, 381), (640, 36), (8, 9)]


def classes(layout: str, rows: int, k: int, n: int, dt) -> list[int]:
    rng = np.random.default_rng(0)
    W = rng.standard_normal((k, n)).astype(dt)
    Wt = np.ascontiguousarray(W.T)
    keys: list[tuple] = [()] * rows
    for _ in range(3):
        x = rng.standard_normal(k).astype(dt)
        if layout == "row":
            A = aligned_empty((rows, k), dt)
            A[:] = x
            C = A @ W
        else:
            At = aligned_empty((k, rows), dt)
            At[:] = x[:, None]
            Ct = aligned_empty((n, rows), dt)
            np.matmul(Wt, At, out=Ct)
            C = Ct.T
        keys = [(*key, C[p].tobytes()) for p, key in enumerate(keys)]
    ids: dict = {}
    return [ids.setdefault(key, len(ids)) for key in keys]


def runs(labels: list[int]) -> list[str]:
    out = []
    for label in sorted(set(labels)):
        pos = [p for p, lab in enumerate(labels) if lab == label]
        spans, start = [], pos[0]
        for a, b in zip(pos, [*pos[1:], None], strict=True):
            if b != a + 1:
                spans.append(f"{start}-{a}")
                start = b
        shown = ",".join(spans[:6]) + (",..." if len(spans) > 6 else "")
        out.append(f"{len(pos)} pos ({len(spans)} runs): {shown}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--sweep", default="")
    args = ap.parse_args()
    dt = np.dtype(args.dtype)
    with threadpool_limits(args.threads, user_api="blas"):
        if args.sweep:
            for rows in (int(r) for r in args.sweep.split(",")):
                common = list(
                    zip(*(classes("col", rows, k, n, dt) for k, n in SHAPES), strict=True)
                )
                sizes = {key: common.count(key) for key in set(common)}
                print(rows, "classes", len(sizes), "largest", max(sizes.values()))
            return
        for k, n in SHAPES:
            for layout in ("row", "col"):
                labels = classes(layout, args.rows, k, n, dt)
                print(args.threads, args.rows, dt, layout, (k, n), runs(labels))


if __name__ == "__main__":
    main()
