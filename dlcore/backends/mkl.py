"""MKL backend: `cblas_sgemm` / `cblas_dgemm` from libmkl_rt through ctypes.

Owns: locating and loading `libmkl_rt` by path (the `mkl` wheel ships only a
versioned `libmkl_rt.so.<N>`, no unversioned name the loader would find) and
calling it. Overrides only `gemm` and `set_num_threads`; the rest is `Ops`.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys

import numpy as np

from dlcore.backends.ops import Ops
from dlcore.errors import BackendError, ShapeError
from dlcore.processes import pid_alive

_CBLAS_ROW_MAJOR = 101
_CBLAS_NO_TRANS = 111
_CBLAS_TRANS = 112

_LIB: ctypes.CDLL | None = None


def find_mkl_rt() -> str | None:
    """Path of libmkl_rt in this environment, or None."""
    roots = [sys.prefix, os.path.join(sys.prefix, "Library")]
    patterns = ["lib/libmkl_rt.so*", "lib/libmkl_rt*.dylib", "bin/mkl_rt*.dll"]
    for root in roots:
        for pat in patterns:
            hits = sorted(glob.glob(os.path.join(root, pat)))
            if hits:
                return hits[0]
    return None


def _load() -> ctypes.CDLL:
    global _LIB
    if _LIB is not None:
        return _LIB
    path = find_mkl_rt()
    if path is None:
        raise BackendError(
            f"MKL backend requested but libmkl_rt was not found under {sys.prefix}/lib. "
            "Install the 'mkl' wheel or use DLCORE_BACKEND=numpy."
        )
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise BackendError(f"could not load {path}: {exc}") from exc
    args = [ctypes.c_int] * 3 + [ctypes.c_int] * 3
    for fn, real in (("cblas_sgemm", ctypes.c_float), ("cblas_dgemm", ctypes.c_double)):
        f = getattr(lib, fn)
        f.restype = None
        f.argtypes = [
            *args,
            real,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            real,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
    lib.MKL_Set_Num_Threads.argtypes = [ctypes.c_int]
    lib.MKL_Set_Num_Threads.restype = None
    lib.MKL_Get_Max_Threads.argtypes = []
    lib.MKL_Get_Max_Threads.restype = ctypes.c_int
    _LIB = lib
    remove_stale_openmp_registrations()
    return lib


_KMP_FILE = re.compile(r"__KMP_REGISTERED_LIB_(\d+)(?:_(\d+))?")


def remove_stale_openmp_registrations(shm: str = "/dev/shm") -> int:
    """Remove this user's `__KMP_REGISTERED_LIB_<pid>[_<uid>]` files of processes that no
    longer run; returns how many. MKL's Intel OpenMP runtime registers each process that
    loads it there and removes the file at a normal exit; Spark kills its Python workers
    when a session ends, so every session left one file per worker, forever (1,176 on the
    test machine after a day). The runtime itself treats a dead pid's file as stale, so
    removing it changes nothing for anyone. Once per process that loads MKL."""
    try:
        names = os.listdir(shm)
    except OSError:
        return 0
    uid, removed = os.getuid(), 0
    for name in names:
        m = _KMP_FILE.fullmatch(name)
        if m is None or (m.group(2) is not None and int(m.group(2)) != uid):
            continue
        path = os.path.join(shm, name)
        try:
            if os.stat(path).st_uid != uid or pid_alive(int(m.group(1))):
                continue
            os.unlink(path)
            removed += 1
        except OSError:
            continue
    return removed


def mkl_available() -> bool:
    try:
        _load()
    except BackendError:
        return False
    return True


def _leading_dim(x: np.ndarray) -> int:
    """The row stride of a row-major matrix in elements (a column slice of a C-contiguous
    array qualifies: BLAS reads it in place), or 0 when BLAS cannot read x as stored."""
    item = x.itemsize
    rows, cols = x.shape
    if cols and x.strides[1] != item and cols > 1:
        return 0
    ld = x.strides[0] // item if rows > 1 else max(cols, 1)
    if x.strides[0] % item or ld < max(cols, 1):
        return 0
    return ld


class MklOps(Ops):
    """GEMM through Intel MKL: C-contiguous matrices and row-strided views of them (column
    slices). Falls back to NumPy for other layouts or mixed-dtype inputs."""

    name = "mkl"

    def __init__(self) -> None:
        self._lib = _load()

    def gemm(self, a, b, out=None, *, trans_a=False, trans_b=False):
        if a.ndim != 2 or b.ndim != 2:
            raise ShapeError(f"gemm takes 2-D arrays. Received {a.shape} and {b.shape}")
        dtype = a.dtype
        lda, ldb = _leading_dim(a), _leading_dim(b)
        if dtype not in (np.float32, np.float64) or b.dtype != dtype or not (lda and ldb):
            return super().gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
        m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
        k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
        if k != k2:
            raise ShapeError(
                f"gemm: inner dimensions differ: op(a) is {(m, k)}, op(b) is {(k2, n)}"
            )
        if out is None:
            out = np.empty((m, n), dtype=dtype)
        elif out.shape != (m, n) or out.dtype != dtype or not _leading_dim(out):
            return super().gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
        if m == 0 or n == 0:
            return out
        fn = self._lib.cblas_sgemm if dtype == np.float32 else self._lib.cblas_dgemm
        fn(
            _CBLAS_ROW_MAJOR,
            _CBLAS_TRANS if trans_a else _CBLAS_NO_TRANS,
            _CBLAS_TRANS if trans_b else _CBLAS_NO_TRANS,
            m,
            n,
            k,
            1.0,
            a.ctypes.data,
            lda,
            b.ctypes.data,
            ldb,
            0.0,
            out.ctypes.data,
            _leading_dim(out),
        )
        return out

    def set_num_threads(self, n: int) -> None:
        self._lib.MKL_Set_Num_Threads(int(n))

    def num_threads(self) -> int | None:
        return int(self._lib.MKL_Get_Max_Threads())

    def library(self) -> str | None:
        """`MKL_Get_Version_String`, e.g. 'Intel(R) oneAPI Math Kernel Library Version 2025.0 ...'."""
        try:
            fn = self._lib.MKL_Get_Version_String
        except AttributeError:
            return "mkl"
        buf = ctypes.create_string_buffer(256)
        fn.restype = None
        fn.argtypes = [ctypes.c_char_p, ctypes.c_int]
        fn(buf, len(buf))
        return buf.value.decode(errors="replace").strip() or "mkl"
