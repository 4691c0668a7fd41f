"""tests/heavy_files.py: the files it puts first exist, and the order keeps every test."""

from __future__ import annotations

from pathlib import Path

from tests.heavy_files import HEAVY_FIRST, file_order

ROOT = Path(__file__).resolve().parents[1]


def test_every_heavy_file_exists_once():
    paths = [path for path, _ in HEAVY_FIRST]
    assert len(paths) == len(set(paths))
    missing = [path for path in paths if not (ROOT / path).is_file()]
    assert not missing, f"tests/heavy_files.py names files that are not there: {missing}"


def test_heavy_files_first_then_the_most_tests_first():
    heavy_a, heavy_b = HEAVY_FIRST[0][0], HEAVY_FIRST[1][0]
    ids = ["tests/a.py::x", f"{heavy_b}::y", "tests/b.py::x", "tests/b.py::y", f"{heavy_a}::z"]
    order = file_order(ids)
    assert sorted(order, key=order.__getitem__) == [heavy_a, heavy_b, "tests/b.py", "tests/a.py"]
