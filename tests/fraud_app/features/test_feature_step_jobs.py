"""The Spark jobs of a `features` build (full, and incremental after a one-day append) and
of a `score --date` on a tiny table: each job is scheduling latency and executor round
trips whatever the rows, so the phases that answer with fewer jobs are pinned here (the
shipped feature specs, 10 days x 30 rows). A phase's jobs are those fired while its
function runs (a job group around it, counted with `statusTracker`; the ETL test's
helper, tests/fraud_app/etl/test_daily_step_jobs.py); the numbers are of the session the
tests share (AQE on). Measured with bench/spark_jobs.py (docs/PROBES.md, session 38,
helper jobs38). The full build is run once for the module (`built`, its jobs counted
there) and the tests that start from a built table get it put back in place: one full
build of the module's, not four (docs/PROBES.md, session 48, helper ci48b)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.features import compile as features_compile
from fraud_app.features import label_changes, table, table_update
from fraud_app.features import pipeline as features_pipeline
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring import job as scoring_job
from fraud_app.scoring import table_source
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.csv_project import Pristine
from tests.fraud_app.etl.test_daily_step_jobs import _jobs
from tests.fraud_app.features.day_deliveries import deliver as _deliver
from tests.fraud_app.scoring.table_model import table_model

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Path:
    """10 days x 30 rows published by the ETL (the feature specs: the shipped ones)."""
    base = tmp_path_factory.mktemp("feature-jobs")
    _deliver(spark, base / "work", base / "raw", range(1, 11), "replace")
    return base / "work"


def _root(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "work")
    return tmp_path / "work"


# the encodings' three groups (mcc, channel, country: one refresh, one lag) share one
# snapshot table, computed and broadcast once (was one each: 15 jobs, now 5); the written
# rows counted from the files' footers (was a read-back count: 3 jobs)
BUILD = {  # the names the feature pipeline calls them by
    "write": (features_pipeline, "write_feature_table"),
    "update": (features_pipeline, "update_feature_table"),
    # the compiler's data profile (all-null inputs, span, log1p minimums): counted per
    # date in the value counts' pass (session 43; its own aggregation was 2 jobs)
    "profile": (features_compile, "data_profile"),
    # the label changes matched by id: one grouping of both sides (session 43; a full outer
    # join and a distinct count of its ids were 5 jobs, and the table's schema read again
    # for the patch: 1)
    "label_diff": (label_changes, "label_diff"),
    "patch": (features_pipeline, "patched_rows"),
    # the id spellings' groups and the hot ids read from what the value counts' pass
    # collects with its dates, in one query (session 44; a window and a collect of their
    # own were 3 jobs, and the hot ids' 2 on a table of >= 1,000 rows: test_hot_keys.py)
    "spellings": (features_pipeline, "find_spellings"),
    "hot": (features_pipeline, "find_hot_keys"),
}


@pytest.fixture(scope="module")
def built(spark, published, tmp_path_factory):
    """`published` after one full build, its jobs counted: (the build's summary, its jobs,
    the root put back IN PLACE for each test that starts from the built table: its
    `_features.json` records the canonical table's absolute path, tests/csv_project.py)."""
    root = _root(published, tmp_path_factory.mktemp("feature-jobs-built"))
    config = load_config(None, {"paths.root": str(root)})
    result = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        jobs = _jobs(spark, monkeypatch, BUILD,
                     lambda: result.update(s=build_feature_table(spark, config)))  # fmt: skip
    return result["s"], jobs, Pristine(root), root


def _built_root(built) -> Path:
    """The root of `built` as its full build left it, for this test."""
    _, _, pristine, root = built
    pristine.restore()
    return root


def test_a_full_feature_build_fires_at_most_13_jobs(built):
    summary, jobs, _, _ = built  # the module's one full build, on a copy of `published`
    assert summary.rows == 300 and summary.extra["build"]["mode"] == "full"
    # base 22 (now 9), 31 (session 38: 18; session 43: 16; session 44: 14)
    assert jobs["write"] <= 11, jobs
    assert jobs["profile"] == 0, jobs  # session 43 (base 2)
    assert jobs["spellings"] == 0 and jobs["hot"] == 0, jobs  # session 44 (base 3, 0)
    # the canonical table's schema from the footers read_table's check read (session 53: 14)
    assert jobs["total"] <= 13, jobs


def test_an_incremental_build_after_a_day_appended_fires_at_most_13_jobs(
    spark, built, tmp_path, monkeypatch
):
    root = _built_root(built)
    config = load_config(None, {"paths.root": str(root)})
    _deliver(spark, root, tmp_path / "d11", [11], "append")
    result = {}
    jobs = _jobs(spark, monkeypatch, BUILD,
                 lambda: result.update(s=build_feature_table(spark, config)))  # fmt: skip
    build = result["s"].extra["build"]
    assert build["mode"] == "incremental" and build["changed_dates"] == ["2024-03-11"], build
    assert result["s"].rows == 330
    # base 25 (now 9: the staged rows and the kept dates' rows from the footers, were a
    # count each, 3 jobs each), 34 (session 38: 18; session 43: 16; session 44: 14)
    assert jobs["update"] <= 11, jobs
    assert jobs["profile"] == 0, jobs  # session 43 (base 2)
    assert jobs["spellings"] == 0, jobs  # session 44 (base 3)
    assert jobs["total"] <= 13, jobs  # session 53 (base 14)


def test_an_incremental_build_after_a_label_changed_fires_at_most_17_jobs(
    spark, built, tmp_path, monkeypatch
):
    """A `labels` run turns a row of day 2 into a fraud known on day 4: the build matches the
    changed dates' rows with the table's (label_diff), recomputes from day 4 and rewrites
    day 2's labels only (the patch)."""
    root = _built_root(built)
    config = load_config(None, {"paths.root": str(root)})
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label,label_time\nt02000,1,2024-03-04 00:30:00\n")
    run_labels(spark, config, [str(feed)])
    result = {}
    jobs = _jobs(spark, monkeypatch, BUILD,
                 lambda: result.update(s=build_feature_table(spark, config)))  # fmt: skip
    build = result["s"].extra["build"]
    assert build["mode"] == "incremental" and build["labels_only"] == ["2024-03-02"], build
    assert build["from"] == "2024-03-04" and result["s"].rows == 300, build
    # base: label_diff 6 (the table's schema 1, the join and its distinct count 5), the
    # patch 1, the profile 2, the run 26; session 43: 4, 0, 0, 21; session 44: the run 19
    assert jobs["label_diff"] <= 4 and jobs["patch"] == 0, jobs
    assert jobs["profile"] == 0 and jobs["spellings"] == 0, jobs
    assert jobs["total"] <= 17, jobs  # session 53 (base 19: both tables' schema reads)


def test_a_score_of_one_date_fires_at_most_7_jobs(spark, built, tmp_path, monkeypatch):
    root = _built_root(built)
    config = load_config(None, {"paths.root": str(root), "tracking.enabled": False})
    model, _ = table_model(config, tmp_path / "model")
    day = dt.date(2024, 3, 10)
    phases = {
        # the canonical rows of the scored dates and of their history counted from the
        # footers (were a limit(1) collect, 1 job, and a day count, 2)
        "canonical": (scoring_job, "_canonical"),
        "inputs": (scoring_job, "_inputs"),
        # the feature table's schema read once (was twice: its columns, then its rows)
        "table": (scoring_job, "table_rows"),
    }
    result = {}
    jobs = _jobs(spark, monkeypatch, phases, lambda: result.update(
        r=run_scoring(spark, config, start=day, end=day, model_uri=model)))  # fmt: skip
    summary = result["r"].summary
    assert summary["features_source"]["source"] == "feature_table", summary
    assert [d["rows"] for d in summary["dates"]] == [30]
    # base 2, 2, 2 (then 1, 0, 1; session 53: 0, 0, 0, the tables' schemas from the footers
    # their `_files.json` checks read); 12 (then 8, now 6)
    assert jobs["canonical"] == 0 and jobs["inputs"] == 0 and jobs["table"] == 0, jobs
    assert jobs["total"] <= 7, jobs


def test_the_build_reads_the_phases_it_pins():
    """The functions the tests above time exist under these names (a rename would make a
    phase count 0 and pass)."""
    assert features_pipeline.write_feature_table is table.write_feature_table
    assert features_pipeline.update_feature_table is table_update.update_feature_table
    assert features_pipeline.patched_rows is label_changes.patched_rows
    assert callable(features_compile.data_profile) and callable(label_changes.label_diff)
    assert scoring_job.table_rows is table_source.table_rows
    assert callable(scoring_job._canonical) and callable(scoring_job._inputs)
