"""Comparing scores of the same rows computed in different batches (dlcore/inference.py:
bit for bit where the BLAS computes every row of a block alike, else to the last float32
bits of each logit)."""

from __future__ import annotations

import numpy as np

from dlcore.inference import blas_rows_uniform


def assert_same_rows(actual, expected) -> None:
    """Bit for bit where `blas_rows_uniform()`; else within rtol 2e-6 of the values (a
    float32 logit's last bits, carried through the sigmoid and the gradient); anything but
    floats (ids, labels as text) always exactly."""
    if blas_rows_uniform() or not np.issubdtype(np.asarray(expected).dtype, np.floating):
        np.testing.assert_array_equal(actual, expected)
    else:
        scale = max(float(np.abs(np.asarray(expected)).max()), 1e-30)
        np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=2e-6 * scale)
