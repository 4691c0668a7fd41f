"""Ops: the array-math kernels every layer calls, written against NumPy.

Owns: GEMM and the BLAS thread count. A faster backend subclasses `Ops` and
overrides only the hot methods (thinc's `Ops` design); everything else is plain
NumPy. Does not own: backend selection (see `dlcore.backends.__init__`).
"""

from __future__ import annotations

import numpy as np

from dlcore.errors import ShapeError


class Ops:
    """Reference backend: NumPy's own BLAS (OpenBLAS in the wheels)."""

    name = "numpy"

    def gemm(
        self,
        a: np.ndarray,
        b: np.ndarray,
        out: np.ndarray | None = None,
        *,
        trans_a: bool = False,
        trans_b: bool = False,
    ) -> np.ndarray:
        """Return op(a) @ op(b), written into `out` when given. op = transpose when flagged."""
        a_op = a.T if trans_a else a
        b_op = b.T if trans_b else b
        if a_op.shape[1] != b_op.shape[0]:
            raise ShapeError(
                f"gemm: inner dimensions differ: op(a) is {a_op.shape}, op(b) is {b_op.shape}"
            )
        if out is None:
            return a_op @ b_op
        return np.matmul(a_op, b_op, out=out)

    def set_num_threads(self, n: int) -> None:
        """Limit this backend's BLAS (OpenBLAS) to n threads for the rest of the process."""
        from threadpoolctl import ThreadpoolController

        # Select by internal_api: a user_api="blas" limit would also capture MKL once loaded.
        ThreadpoolController().select(internal_api="openblas").limit(limits=int(n))

    def num_threads(self) -> int | None:
        from threadpoolctl import threadpool_info

        found = [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"]
        return found[0] if found else None

    def library(self) -> str | None:
        """The BLAS library GEMM runs in, with its version (a run's record: another library
        or version rounds differently, so the same seed gives other weights)."""
        from threadpoolctl import threadpool_info

        found = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
                 if i.get("internal_api") == "openblas"]  # fmt: skip
        return found[0] if found else None

    def describe(self) -> dict[str, object]:
        return {"backend": self.name}
