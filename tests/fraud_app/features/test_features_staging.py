"""`fraud-app features` after a killed run and beside another run (session 22 probe). It took
no lock and never cleared its staging: a killed run's `<table>.tmp-*` (a whole feature
table) stayed beside the table for good, a kill between the commit's two renames left no
table (only `<table>.old-*`, never put back), and two runs at once (a scheduler's
overlapping runs, or one beside `etl` replacing the canonical table) wrote into each
other's commit. Real Spark, a real lock holder in another process. The rows are delivered
once for the module (`published`) and put back in place for each test (was one ETL run of
the same delivery a test: docs/PROBES.md, session 48, helper ci48b)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from tests.fraud_app.csv_project import Pristine
from tests.processes import held_in_child

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
CSV = "transaction_id,card_id,timestamp,amount,label\n" + "".join(
    f"t{i},c{i % 3},2024-01-0{1 + i % 4} 10:0{i % 6}:00,{10 + i}.5,{int(i % 7 == 0)}\n"
    for i in range(24)
)


def _config(tmp_path: Path):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "d.csv").write_text(CSV)
    return load_config(None, {"paths.root": str(tmp_path / "root"), "etl.input": str(raw),
                              "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory):
    """CSV delivered once (etl): (its root kept to be put back in place, the config)."""
    base = tmp_path_factory.mktemp("features-staging")
    config = _config(base)
    run_etl(spark, config)
    return Pristine(base / "root"), config


@pytest.fixture
def config(published):
    """The root as the module's ETL run left it (no feature table yet), for this test."""
    pristine, config = published
    pristine.restore()
    return config


def test_what_a_killed_run_left_is_cleared_and_the_table_rebuilt(spark, config):
    table = Path(config.feature_table())
    dead = table.parent / f"{table.name}.tmp-deadbeef0001"  # killed while writing
    (dead / "event_date=2024-01-01").mkdir(parents=True)
    (dead / "event_date=2024-01-01" / "part-0.parquet").write_text("half")
    between = table.parent / f"{table.name}.old-deadbeef0002"  # killed between the renames
    between.mkdir()
    (between / "_features.json").write_text("{}")
    summary = build_feature_table(spark, config)
    assert summary.rows == 24
    left = sorted(p.name for p in table.parent.iterdir() if p.name.startswith(table.name))
    assert left == [table.name]  # neither leftover stays beside the new table
    assert (table / "_features.json").read_text() != "{}"


def test_a_second_run_on_the_root_is_refused_naming_the_holder(spark, config):
    lock = f"from fraud_app.etl.lock import RootLock\nRootLock({config.paths.root!r}, 'etl')"
    with held_in_child(lock) as proc:
        with pytest.raises(ConcurrentRunError, match=rf"writing to .*root: etl \(pid {proc.pid}"):
            build_feature_table(spark, config)
        assert not Path(config.feature_table()).exists()
    assert build_feature_table(spark, config).rows == 24  # released: it runs


def test_features_is_refused_while_a_training_reads_the_table(spark, config):
    """A `train` (or tune, backtest, evaluate) reading the feature table holds `features`
    back: its commit would pull the files from under the training."""
    assert build_feature_table(spark, config).rows == 24
    table = Path(config.feature_table())
    before = sorted(p.relative_to(table) for p in table.rglob("*"))
    reader = (
        "from fraud_app.etl.readers import TableReader\n"
        f"TableReader({config.paths.root!r}, 'train', 'features')"
    )
    with held_in_child(reader) as proc:
        with pytest.raises(
            ConcurrentRunError, match=rf"while 1 run\(s\) read it: train \(pid {proc.pid}"
        ):
            build_feature_table(spark, config)
        assert sorted(p.relative_to(table) for p in table.rglob("*")) == before
    assert build_feature_table(spark, config).rows == 24  # the reader ended: it runs
