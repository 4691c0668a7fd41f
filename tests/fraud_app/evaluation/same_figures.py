"""`same(old, new)`: two figure reports equal key by key (in order), of the same types; NaN
equal to NaN; average precision to 1e-13 relative (the distributed sum adds its terms in
another order than the NumPy one)."""

from __future__ import annotations

import math

import pytest


def same(old, new, path="report"):
    if isinstance(old, dict):
        assert list(old) == list(new), path
        for key in old:
            same(old[key], new[key], f"{path}.{key}")
    elif isinstance(old, list):
        assert len(old) == len(new), path
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            same(a, b, f"{path}[{i}]")
    elif isinstance(old, float) and math.isnan(old):
        assert isinstance(new, float) and math.isnan(new), path
    elif path.endswith("average_precision"):
        assert new == pytest.approx(old, rel=1e-13, abs=0), path
    else:
        assert old == new and type(old) is type(new), (path, old, new)
