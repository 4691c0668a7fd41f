"""Backend selection: `get_ops()` returns the fastest available `Ops` for this CPU.

The choice is made by measuring, not by name: on first use we time (CPU time) a few short
float32 GEMMs (a square one and the three products of a Linear layer at a small batch,
`GEMM_PROBLEMS`) on every backend that loads here, interleaved, and keep the fastest
overall (within 10 %, a tie, a fixed order decides: `pick_backend`). `DLCORE_BACKEND` (`auto`, `numpy`, `mkl`) or `set_ops()` overrides the choice;
`DLCORE_NUM_THREADS` or `set_num_threads()` sets the BLAS thread count (default 1: one
thread per Spark task, because 2-thread BLAS collapses under load).
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


# The products of training, small: one square GEMM (wide layers, large batches) and the
# three of a Linear layer at a small batch - forward X W, weight gradient X^T dY, input
# gradient dY W^T - where BLAS libraries differ most (MKL vs OpenBLAS on the project's
# 2-vCPU EPYC VM: 2-4x on these, 10-15 % on the square one, so that one alone picked
# either backend at random under load). ((m, k, n), trans_a, trans_b): op(a) is m x k.
GEMM_PROBLEMS = (
    ((384, 384, 384), False, False),
    ((16, 1024, 1024), False, False),
    ((1024, 16, 1024), True, False),
    ((16, 1024, 1024), False, True),
)


def _time_gemms(backends: dict[str, Ops], repeats: int = 15, threads: int = 1) -> dict[str, float]:
    """Per backend, the sum over GEMM_PROBLEMS of its best CPU time of `repeats`; the
    backends alternate call by call. CPU time, not wall time: on a loaded 2-vCPU machine
    (a Spark job of the same application running beside the measurement) a GEMM of a few
    milliseconds was preempted often enough that the best of 15 wall times picked OpenBLAS
    in one run (0.009 s vs MKL 0.015 s) and MKL in the next (0.020 s vs 0.011 s), on the
    same machine and data. The calling thread's CPU time with one BLAS thread (the
    default), the process's with more."""
    clock = time.thread_time if threads == 1 else time.process_time
    rng = np.random.default_rng(0)
    totals = dict.fromkeys(backends, 0.0)
    for (m, k, n), trans_a, trans_b in GEMM_PROBLEMS:
        a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        best = dict.fromkeys(backends, float("inf"))
        for repeat in range(repeats + 1):  # call 0 warms up (thread pool, dispatch set-up)
            for name, ops in backends.items():
                t0 = clock()
                ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
                if repeat:
                    best[name] = min(best[name], clock() - t0)
        for name in backends:
            totals[name] += best[name]
    return totals


def measure_backends(
    num_threads: int | None = None, backends: dict[str, Ops] | None = None
) -> dict[str, float]:
    """CPU seconds for the GEMM_PROBLEMS (sum of each one's best of 15) per backend: every
    available one, or the given `backends` by name."""
    threads = settings.num_threads() if num_threads is None else num_threads
    if backends is None:
        backends = {name: _BACKENDS[name]() for name in available_backends()}
    for ops in backends.values():
        ops.set_num_threads(threads)
    return _time_gemms(backends, threads=threads)


# Timings within this factor of the fastest are a tie, decided by PREFERENCE: on a loaded
# machine the timed choice otherwise flipped from run to run (a 1M training run picked
# numpy at load 12 and MKL when quiet, and the two round differently: another test AP).
# Where the libraries really differ it is by 2-4x (the small products above on the
# project's first EPYC VM); on a Zen 4 VM they timed within 2-13 % of each other, 3 runs in a
# row at load ~2 (a coin toss without the tie).
TIE = 1.10
PREFERENCE = ("mkl", "numpy")


def pick_backend(timings: dict[str, float], tie: float = TIE) -> str:
    """The fastest backend of `timings` (seconds); those within `tie` x the fastest's
    time count as equally fast, and the first of them in PREFERENCE is taken, so runs on
    one machine choose the same backend whatever the load of the moment."""
    fastest = min(timings.values())
    close = [name for name, t in timings.items() if t <= fastest * tie]
    return min(close, key=lambda n: PREFERENCE.index(n) if n in PREFERENCE else len(PREFERENCE))


def make_ops(name: str) -> Ops:
    """Instantiate a backend by name (`numpy`, `mkl`, or `auto` to measure)."""
    if name == "auto":
        timings = measure_backends()
        name = pick_backend(timings)
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


def use_backend(name: str) -> Ops:
    """Make `name` the process-wide backend unless it already is, without measuring.

    Distributed training and scoring call this in every worker with the driver's choice
    (its explicit DLCORE_BACKEND, else its timed choice, resolved once there): the timed
    choice of `get_ops()` can differ between processes on a loaded machine (a burst of
    load during one worker's measurement), and ranks on different BLAS libraries round
    differently, so the same seed would not give the same weights."""
    global _CURRENT
    if _CURRENT is None or _CURRENT.name != name:
        try:
            _CURRENT = make_ops(name)
        except BackendError as exc:
            raise BackendError(
                f"the dlcore backend {name!r} chosen by the driver cannot be used in this "
                f"process ({exc}); set DLCORE_BACKEND on the driver to one that every worker "
                f"can load (available here: {', '.join(available_backends())})"
            ) from exc
    return _CURRENT


def set_num_threads(n: int) -> None:
    """Set the BLAS thread count of the current backend."""
    if int(n) < 1:
        raise ConfigError(f"num_threads must be >= 1. Received: {n}")
    get_ops().set_num_threads(int(n))


__all__ = [
    "GEMM_PROBLEMS",
    "MklOps",
    "Ops",
    "available_backends",
    "get_ops",
    "make_ops",
    "measure_backends",
    "set_num_threads",
    "set_ops",
    "tune_allocator",
    "use_backend",
]
