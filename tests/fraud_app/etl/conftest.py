"""Published roots that many ETL and labels test files start from, each published by a
real ETL run ONCE PER TEST PROCESS (as tests/conftest.py's `mlflow_template` makes one
MLflow store) instead of once per file or per test: a test copies the root it is given
(`test_labels_feed._root`, `test_labels_ledger.published_then_fed`) and never writes it.
At the end of the process each fixture checks that its root is as it was published
(every file's name, size and modification time), so a test that wrote into the shared
root fails the run instead of changing what later tests start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_append_incremental import publish_first
from tests.fraud_app.etl.test_labels_feed import publish_transactions
from tests.fraud_app.etl.test_labels_ledger import FIRST, _config, _raw


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root: its path relative to root -> (size, mtime in ns)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _unchanged(root: Path, before: dict[str, tuple[int, int]]) -> None:
    after = listing(root)
    changed = sorted({p for p in {*after, *before} if after.get(p) != before.get(p)})
    assert not changed, (
        f"a test wrote into the shared published root {root} (copy it first): "
        f"{len(changed)} file(s) added, removed or changed: {changed[:5]}"
    )


@pytest.fixture(scope="session")
def transactions_published(spark, tmp_path_factory) -> Path:
    """paths.root of test_labels_feed.TRANSACTIONS (5 rows over 3 dates) published by a
    replace ETL run; read-only: `_root(transactions_published, tmp_path)` gives a copy."""
    root = publish_transactions(spark, tmp_path_factory.mktemp("transactions-published"))
    before = listing(root)
    yield root
    _unchanged(root, before)


@pytest.fixture(scope="session")
def first_published(spark, tmp_path_factory) -> Path:
    """A folder holding raw/a.csv (test_labels_ledger.FIRST) and work/, the table a replace
    ETL run of it published; read-only: `published_then_fed` copies it."""
    base = tmp_path_factory.mktemp("first-published")
    _raw(base, FIRST)
    run_etl(spark, _config(base))
    before = listing(base)
    yield base
    _unchanged(base, before)


@pytest.fixture(scope="session")
def first_delivery_published(spark, tmp_path_factory) -> Path:
    """A folder holding d1/a.csv (test_append_incremental's first delivery: t0..t7 on
    2024-01-01..04, bad0) and work/, published by an append with no table yet under the
    default etl.conflicting_duplicates (`publish_first`, which checks what it published);
    read-only: `copy_published(base / "work", tmp_path)` or a copy of the whole folder."""
    base = tmp_path_factory.mktemp("first-delivery-published")
    publish_first(spark, base)
    before = listing(base)
    yield base
    _unchanged(base, before)
