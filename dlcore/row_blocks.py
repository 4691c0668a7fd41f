"""Where the rows of a fixed-height GEMM block go, so that BLAS computes each of them alike.

Owns: 64-byte aligned buffers, holding NumPy's BLAS at one thread while a plan computes,
and the probe that finds the positions of a block whose rows a BLAS computes by the same
code path in every GEMM of a plan (dlcore/inference.py lays batch rows out as BLAS's M
dimension: the products are W^T (n_out, k) @ A (k, block) with the block's rows as
columns).

Why: an optimised GEMM kernel walks a block in register tiles and cache panels, and a
tile at an edge can sum its products in another order than one in the middle: the same
input row then gives other float32 bits at another position. OpenBLAS 0.3.31's Haswell
sgemm (AVX2; AMD EPYC family 23 here) computes the first and last 8 of 256 rows laid out
along M one way and rows 8-247 another; laid out along N (NumPy's `A @ W`) it computes
them three ways, in groups of 12 (docs/BENCHMARKS.md, "float32 rows at one code path").
Its AVX-512 kernels computed every position alike in NumPy's layout (session 15's Zen
4; the M layout was not measured there). Which positions agree is a property of the
kernel, the dtype and the shapes, not of the values, so a probe finds it: every column
of the right operand the same random vector, columns compared bit for bit, three
vectors, every GEMM shape of the plan; the plan places real rows only at the positions
of the largest class common to all of its GEMMs (the other positions carry zero
padding), and a machine whose kernels treat every position alike pays nothing.

The thread count is part of the code path (OpenBLAS splits a block between threads, and
each thread's share has its own edges), so the plan's GEMMs and the probe run with NumPy's
BLAS held at one thread (`one_blas_thread`), whatever the process set.

Speed: the first hold in a process also runs `warm_blas` (one throwaway 1024 x 64 x 1024
GEMM per float dtype, ~5 + ~13 ms, once). On this machine OpenBLAS 0.3.31's one-thread
sgemm ran the plan's products (256 output columns: BLAS's M = 256) 2-3.5x slower, to the
same bits, in a process that had not yet run a GEMM with more output columns (640 x 316
@ 316 x 256: 10.4 vs 2.9 ms; 128 x 64 @ 64 x 256: 0.33 vs 0.14 ms), and stayed so for
the process's life: a Spark Python worker (which runs nothing else) spent 0.46 instead of
0.19 CPU s per 10,000 rows (docs/BENCHMARKS.md, "float32 rows at one code path", the
session 18 part). One larger GEMM ends that state for the process and all of its
threads; which one does (and which does not) is measured there. The warm-up changes no
result's bits (only when the plan computes, not how).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np

ALIGN = 64
_PROBE_VECTORS = 3

_lock = threading.Lock()
_libs: list | None = None
_warm = False
_holders = 0
_saved: list[int] = []
_classes_cache: dict[tuple, np.ndarray] = {}
_positions_cache: dict[tuple, np.ndarray] = {}


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    out = aligned_empty(shape, dtype)
    out.fill(0)
    return out


def _blas_libs() -> list:
    """threadpoolctl's controllers of every BLAS loaded (NumPy's among them), found once."""
    global _libs
    if _libs is None:
        from threadpoolctl import ThreadpoolController

        _libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _libs


def warm_blas() -> None:
    """One throwaway GEMM per float dtype, at the caller's BLAS thread count: after it,
    OpenBLAS's one-thread GEMMs with 256 output columns run at full speed in this process
    (see the module docstring); elsewhere it costs its ~20 ms and nothing else."""
    for dt in (np.float32, np.float64):
        np.matmul(np.ones((1024, 64), dt), np.ones((64, 1024), dt))


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, the loaded BLAS libraries run on one thread; their counts are
    restored when the last concurrent holder leaves. Process-wide: NumPy GEMMs of other
    Python threads meanwhile run on one thread too. The first hold of a process runs
    `warm_blas` (at one thread)."""
    global _holders, _saved, _warm
    libs = _blas_libs()
    with _lock:
        if _holders == 0:
            _saved = [lib.get_num_threads() for lib in libs]
            for lib, n in zip(libs, _saved, strict=True):
                if n not in (1, None):
                    lib.set_num_threads(1)
        _holders += 1
    try:
        if not _warm:  # two threads may both warm: harmless
            warm_blas()
            _warm = True
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                for lib, n in zip(libs, _saved, strict=True):
                    if n not in (1, None):
                        lib.set_num_threads(n)


def gemm_row_classes(dtype, n_out: int, k: int, rows: int, layout: str = "m") -> np.ndarray:
    """(rows,) class labels of the positions of a `rows`-row block in the product
    W^T (n_out, k) @ A (k, rows) (layout "m": the rows as BLAS's M dimension) or A (rows,
    k) @ W (k, n_out) (layout "n", NumPy's own), aligned C-contiguous operands, one BLAS
    thread: two positions share a label when the same input row gives the same bits at
    both (for every probe vector). Labels number the classes by their first position."""
    if layout not in ("m", "n"):
        raise ValueError(f"layout must be 'm' or 'n'. Received: {layout!r}")
    key = (np.dtype(dtype).str, int(n_out), int(k), int(rows), layout)
    if key not in _classes_cache:
        _classes_cache[key] = _probe(np.dtype(dtype), int(n_out), int(k), int(rows), layout)
    return _classes_cache[key]


def _probe(dt: np.dtype, n_out: int, k: int, rows: int, layout: str) -> np.ndarray:
    rng = np.random.default_rng([n_out, k, rows])
    W = aligned_empty((n_out, k), dt)
    W[...] = rng.standard_normal((n_out, k))
    if layout == "n":
        Wn = aligned_empty((k, n_out), dt)
        Wn[...] = W.T
    A = aligned_empty((k, rows), dt)
    An = aligned_empty((rows, k), dt)
    C = aligned_empty((n_out, rows), dt)
    Cn = aligned_empty((rows, n_out), dt)
    bits = np.dtype(f"u{dt.itemsize}")
    seen = []
    with one_blas_thread():
        for _ in range(_PROBE_VECTORS):
            A[...] = rng.standard_normal((k, 1)) * 10.0 ** rng.uniform(-2, 2, (k, 1))
            if layout == "n":
                An[...] = A.T
                np.matmul(An, Wn, out=Cn)
                seen.append(Cn.view(bits))
            else:
                np.matmul(W, A, out=C)
                seen.append(np.ascontiguousarray(C.T).view(bits))
    return _first_position_labels(np.concatenate(seen, axis=1))


def _first_position_labels(keys: np.ndarray) -> np.ndarray:
    """(rows,) labels of the distinct rows of `keys` (rows, width), numbered 0, 1, ... in
    the order of their first occurrence."""
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse.reshape(-1)]


def uniform_positions(
    dtype, gemms: Iterable[tuple[int, int]], rows: int, layout: str = "m"
) -> np.ndarray:
    """The positions (sorted) of a `rows`-row block where every product W^T (n_out, k) @
    A (k, rows) of `gemms` (layout "n": A (rows, k) @ W (k, n_out)) computes a row alike:
    the largest class common to all of them (of equal ones, the one holding the smallest
    position). All `rows` positions where the BLAS computes every position alike. Probed
    once per process and shape."""
    shapes = tuple(sorted({(int(n), int(k)) for n, k in gemms}))
    key = (np.dtype(dtype).str, shapes, int(rows), layout)
    if key not in _positions_cache:
        labels = [gemm_row_classes(dtype, n, k, rows, layout) for n, k in shapes]
        common = _first_position_labels(np.stack(labels, axis=1)) if labels else np.zeros(rows)
        sizes = np.bincount(common.astype(np.intp))
        best = int(np.flatnonzero(sizes == sizes.max())[0])  # labels follow first positions
        _positions_cache[key] = np.flatnonzero(common == best)
    return _positions_cache[key]
