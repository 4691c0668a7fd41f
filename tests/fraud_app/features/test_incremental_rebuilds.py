"""`features` rebuilds the whole table when the incremental build cannot be trusted (a
spec or setting changed, a file of the table gone, a killed commit's marker), and a killed
incremental run leaves the previous table readable (session 32).

Split from test_incremental_build.py (its helpers, same project and data) so that under
`make test` (`--dist loadfile`) these and the two long equality tests there can run on
different workers. Real parts: the ETL, local Spark, files, a killed CLI process. The
4-day project is delivered and built once for the module (`built`) and put back in place
for each test that starts from it (`cfg`). The canonical file rewritten under its own name
(session 32, probe32e) starts from it too (was test_incremental_probes.py, with an ETL run
and a full build of its own: session 48, helper ci48b)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fraud_app.features.pipeline import build_feature_table
from fraud_app.features.table import read_feature_table
from tests import forked
from tests.fraud_app.csv_project import Pristine
from tests.fraud_app.features.test_incremental_build import (
    ROOT,
    SPECS,
    _build,
    _csv,
    _deliver,
    _project,
    _rows,
    _same_as_full,
    _table,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    """4 days of 20 rows (label_time) delivered and built once for the module: (the
    folders put back for each test, the config)."""
    base = tmp_path_factory.mktemp("built")
    cfg = _project(base, True)
    rows = [r for d in range(1, 5) for r in _rows(d, 20, d)]
    _deliver(spark, cfg, base, "history", _csv(rows, True, 4), "replace")
    build_feature_table(spark, cfg())
    return Pristine(base / "root", base / "specs"), cfg


@pytest.fixture
def cfg(built):
    """The project of `built` as its first build left it (its specs too), for this test."""
    pristine, cfg = built
    pristine.restore()
    return cfg


def test_a_changed_spec_or_setting_rebuilds_the_whole_table(spark, cfg, caplog):
    specs = Path(cfg().features.spec_dir)
    (specs / "a.yaml").write_text(SPECS.replace("windows: [6h, 1d]}", "windows: [6h, 2d]}"))
    build, log = _build(spark, cfg(), caplog)
    assert build == {"mode": "full", "reason": "specs changed since it was built"}
    assert f"features: full build of {cfg().feature_table()}: specs changed" in log
    build, _ = _build(spark, cfg(**{"features.label_delay_days": 2}), caplog)
    assert build["reason"] == "label_delay changed since it was built"
    build, _ = _build(spark, cfg(**{"features.label_delay_days": 2}), caplog)
    assert build["mode"] == "incremental" and build["from"] is None
    # `features.incremental: false` (a full build saying so, whatever the table's state): every
    # rebuild test_incremental_build._same_as_full compares with asserts it (session 54: it
    # was a full build of this table more)
    # a part file of the table deleted: its record disagrees, the table is rebuilt whole
    table = Path(cfg().feature_table())
    next((table / "event_date=2024-03-02").glob("*.parquet")).unlink()
    build, _ = _build(spark, cfg(**{"features.label_delay_days": 2}), caplog)
    assert build["mode"] == "full" and "its files are not the ones recorded" in build["reason"]
    assert (table / "event_date=2024-03-02").exists()


def test_a_killed_incremental_run_leaves_the_previous_table_readable(spark, cfg, tmp_path):
    """`fraud-app features` (a child of its own, forked: tests/forked.py, in a process group
    of its own with the JVM it starts) SIGKILLed once it staged its dates: the table reads
    as it was, and the next run takes the staging away and updates it. From `built` (its
    4 days built), 2024-03-03 removed from the canonical table (a retention script, its
    record accepted): the run recomputes 03-04 and takes 03-03 out. Was: a 5th day
    appended by an ETL run (session 46: one ETL run less; the removal also shows a date
    the update keeps that it should take out). The child's Spark session as the tests'
    (`spark` in tests/conftest.py): generated code off, 2 shuffle partitions, 1 GiB; the
    killed run's cold JVM compiled every query's code (session 46, docs/PROBES.md). Its JIT
    C1 only (`-XX:TieredStopAtLevel=1`; the app's `-XX:+UseParallelGC` kept, which a config's
    Java options replace): a JVM killed before it runs anything warm pays C2's compiling and
    gains nothing from it, 35-39 -> 23 CPU s to its staging (session 50, docs/PROBES.md);
    Java's arithmetic is strict whatever the tier (JEP 306)."""
    config = cfg()
    before = _table(spark, config.feature_table())
    canonical = Path(config.canonical_table())
    shutil.rmtree(canonical / "event_date=2024-03-03")
    (canonical / "_files.json").unlink()
    gone = int((before["timestamp"].dt.strftime("%Y-%m-%d") == "2024-03-03").sum())
    assert gone > 0
    yaml = tmp_path / "config.yaml"
    yaml.write_text(
        f"paths: {{root: {config.paths.root}}}\nfeatures: {{spec_dir: {config.features.spec_dir}, "
        "label_delay_days: 1}\nspark: {master: 'local[1]', conf: {"
        "spark.sql.codegen.wholeStage: 'false', spark.sql.codegen.factoryMode: NO_CODEGEN, "
        "spark.sql.shuffle.partitions: '2', spark.driver.memory: 1g, "
        "spark.driver.extraJavaOptions: '-XX:+UseParallelGC -XX:TieredStopAtLevel=1'}}\n"
    )
    staging = Path(config.feature_table()) / "_staging"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = forked.start_forked(
        forked.fraud_app_in_own_group, ["-c", str(yaml), "features"], cwd=ROOT, env=env,
        out=tmp_path, timeout=240,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(staging.glob("*/new")) and proc.exitcode is None:
            assert time.monotonic() < deadline, "the run never staged its dates"
            time.sleep(0.05)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and its JVM
        except ProcessLookupError:  # ended, or not yet in a group of its own
            proc.kill()
        proc.join(60)
    assert list(staging.glob("*/new")), "the run finished before it was killed"
    assert proc.exitcode == -signal.SIGKILL, (proc.exitcode, (tmp_path / "stderr").read_text())
    assert _table(spark, config.feature_table()).equals(before)  # readable, as it was
    build_feature_table(spark, config)  # takes the killed run's staging away, updates
    assert not staging.exists()
    after = _table(spark, config.feature_table())
    assert len(after) == len(before) - gone
    assert "2024-03-03" not in set(after["timestamp"].dt.strftime("%Y-%m-%d"))
    assert not (Path(config.feature_table()) / "event_date=2024-03-03").exists()


def test_a_table_a_killed_commit_left_is_refused_then_rebuilt_whole(spark, cfg, caplog):
    """What a SIGKILL inside the incremental commit leaves (its marker, a date moved out
    and not yet back): readers refuse it; the next `features` rebuilds the table whole."""
    from fraud_app.errors import DataIntegrityError
    from fraud_app.etl.lock import owner_info

    before = _table(spark, cfg().feature_table())
    table = Path(cfg().feature_table())
    job = table / "_staging" / "features-0123456789ab"
    (job / "old").mkdir(parents=True)
    (table / "event_date=2024-03-02").rename(job / "old" / "event_date=2024-03-02")
    dead = subprocess.Popen(["true"])
    dead.wait()
    marker = {**owner_info(), "pid": dead.pid, "dates": ["2024-03-02"]}
    (job / "_committing.json").write_text(json.dumps(marker))
    with pytest.raises(DataIntegrityError, match="is half-updated: job features-0123456789ab"):
        read_feature_table(spark, str(table))
    build, log = _build(spark, cfg(), caplog)
    assert build == {"mode": "full",
                     "reason": "a killed `features` run left the table half-updated"}  # fmt: skip
    assert "full build" in log
    assert not (table / "_staging").exists()
    assert _table(spark, str(table)).equals(before)


def test_a_table_whose_killed_commit_marker_cannot_be_read_is_refused_then_rebuilt_whole(
    spark, cfg, caplog
):
    """The same, its marker cut short (session 40): readers name the marker and say that
    `features` rebuilds the table, and `features` does. It was read as no marker: readers
    went by the table's other checks alone (a date only in `old`, named with no dates and
    pid None; the files against `_files.json`)."""
    from fraud_app.errors import DataIntegrityError
    from fraud_app.etl.lock import owner_info

    before = _table(spark, cfg().feature_table())
    table = Path(cfg().feature_table())
    job = table / "_staging" / "features-0123456789ab"
    job.mkdir(parents=True)
    text = json.dumps({**owner_info(), "pid": 1, "dates": ["2024-03-02"]})
    (job / "_committing.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataIntegrityError, match=(
        rf"^feature table {table} may be half-updated: the commit marker {job}/_committing\.json "
        r"cannot be read \(not JSON .* Run `fraud-app features`: it rebuilds a half-updated "
        r"table whole$")):  # fmt: skip
        read_feature_table(spark, str(table))
    build, _ = _build(spark, cfg(), caplog)
    assert build == {"mode": "full",
                     "reason": "a killed `features` run left the table half-updated"}  # fmt: skip
    assert not (table / "_staging").exists()
    assert _table(spark, str(table)).equals(before)


def test_a_canonical_file_rewritten_under_its_own_name_is_recomputed(spark, cfg, tmp_path, caplog):
    """A canonical file rewritten by hand under its own name (amounts corrected), its
    `_files.json` then deleted as the integrity error says to accept it: the names are
    the same, the rows are not. Was: `up to date ... nothing recomputed`, the table's
    features of the old amounts, without a word. From `built` (was 6 days of a project of
    its own, probe32e): its last date rewritten, 2024-03-04, whose history read reaches
    back exactly to the data's first midnight (03-01: 3 days), so a history read one day
    short shows in the compare with a full rebuild (test_incremental_build._same_as_full:
    row for row, value for value, and `_features.json`); 03-03 rewritten read history from
    before the data, and that plant passed (docs/PROBES.md, session 48, helper ci48b)."""
    canonical = Path(cfg().canonical_table())
    part = next((canonical / "event_date=2024-03-04").glob("*.parquet"))
    table = pq.read_table(part)
    column = table.schema.get_field_index("amount")
    table = table.set_column(column, "amount", pc.multiply(table["amount"], 3.0))
    pq.write_table(table, part, use_deprecated_int96_timestamps=True)
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum
    (canonical / "_files.json").unlink()
    with caplog.at_level(logging.INFO):
        build, log = _build(spark, cfg(), caplog)
    assert build["mode"] == "incremental" and build["from"] == "2024-03-04", build
    assert build["changed_dates"] == ["2024-03-04"], build
    assert "recomputing the dates from 2024-03-04" in log
    _same_as_full(spark, cfg, tmp_path, "rewritten")
