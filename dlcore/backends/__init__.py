"""Backend selection: `get_ops()` returns the fastest available `Ops` for this CPU.

The choice is made by measuring, not by name: on first use we time a short
float32 GEMM on every backend that loads here and keep the fastest (on AMD Zen
OpenBLAS usually wins; on Intel CPUs MKL usually does). `DLCORE_BACKEND`
(`auto`, `numpy`, `mkl`) or `set_ops()` overrides the choice; `DLCORE_NUM_THREADS`
or `set_num_threads()` sets the BLAS thread count (default 1: one thread per
Spark task, because 2-thread BLAS collapses under load).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from dlcore import settings
from dlcore.backends.allocator import tune_allocator
from dlcore.backends.mkl import MklOps, mkl_available
from dlcore.backends.ops import Ops
from dlcore.errors import BackendError, ConfigError

logger = logging.getLogger(__name__)

_BACKENDS: dict[str, type[Ops]] = {"numpy": Ops, "mkl": MklOps}
_CURRENT: Ops | None = None


def available_backends() -> list[str]:
    names = ["numpy"]
    if mkl_available():
        names.append("mkl")
    return names


def _time_gemm(ops: Ops, size: int = 384, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    ops.gemm(a, b, out)  # warm-up: first call pays thread-pool / dispatch set-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ops.gemm(a, b, out)
        best = min(best, time.perf_counter() - t0)
    return best


def measure_backends(num_threads: int | None = None) -> dict[str, float]:
    """Seconds per 384^3 sgemm for every available backend (best of 5)."""
    threads = settings.num_threads() if num_threads is None else num_threads
    timings: dict[str, float] = {}
    for name in available_backends():
        ops = _BACKENDS[name]()
        ops.set_num_threads(threads)
        timings[name] = _time_gemm(ops)
    return timings


def make_ops(name: str) -> Ops:
    """Instantiate a backend by name (`numpy`, `mkl`, or `auto` to measure)."""
    if name == "auto":
        timings = measure_backends()
        name = min(timings, key=timings.__getitem__)
        logger.info("dlcore backend chosen by measurement: %s (%s)", name, timings)
    if name not in _BACKENDS:
        raise ConfigError(
            f"unknown dlcore backend {name!r}. Expected one of: auto, {', '.join(_BACKENDS)}"
        )
    if name == "mkl" and not mkl_available():
        raise BackendError("DLCORE_BACKEND=mkl but libmkl_rt cannot be loaded here")
    ops = _BACKENDS[name]()
    ops.set_num_threads(settings.num_threads())
    return ops


def get_ops() -> Ops:
    """The process-wide backend, chosen on first call."""
    global _CURRENT
    if _CURRENT is None:
        if settings.tune_malloc():
            tune_allocator()
        _CURRENT = make_ops(settings.backend_name())
    return _CURRENT


def set_ops(ops: Ops | str) -> Ops:
    """Replace the process-wide backend (an `Ops` instance or a backend name)."""
    global _CURRENT
    _CURRENT = make_ops(ops) if isinstance(ops, str) else ops
    return _CURRENT


def set_num_threads(n: int) -> None:
    """Set the BLAS thread count of the current backend."""
    if int(n) < 1:
        raise ConfigError(f"num_threads must be >= 1. Received: {n}")
    get_ops().set_num_threads(int(n))


__all__ = [
    "MklOps",
    "Ops",
    "available_backends",
    "get_ops",
    "make_ops",
    "measure_backends",
    "set_num_threads",
    "set_ops",
    "tune_allocator",
]
