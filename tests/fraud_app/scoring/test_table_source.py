"""When `score` reads the feature table's rows instead of computing them, and how `score`
and `evaluate` take a model that reads fewer features than the specs or the table hold
(fraud_app.scoring.table_source, model_source.check_feature_names).

One module fixture: generate -> etl -> features (three spec files) on a small data set,
and a hand-made two-member model over the table's features (no training: seconds, not
minutes), saved with the metadata `score` reads. Real Spark, real files.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.errors import EmptyInputError, ScoringInputError
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.table_model import table_model

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
SPECS = ("card_velocity.yaml", "risk_card.yaml", "transaction.yaml")
EXTRA = "version: 1\nfeatures:\n  - kind: window_agg\n    entity: card\n    aggregations: [min]\n    windows: [2d]\n"  # fmt: skip


def _config(root: Path, spec_dir: Path, **more):
    return load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(root), "features.spec_dir": str(spec_dir),
        "features.spec_files": list(SPECS), "generate.n_transactions": 2_500,
        "generate.n_cards": 150, "generate.n_merchants": 40, "generate.days": 24,
        "generate.fraud_rate": 0.03, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "tracking.enabled": False, **more,
    })  # fmt: skip


def _model(spark, config, path: Path) -> str:
    """Two members over the table's features, standardised with the table's statistics."""
    return table_model(config, path, seeds=(0, 1), hidden=6)[0]


@pytest.fixture(scope="module")
def data(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("table-source")
    specs = root / "specs"
    shutil.copytree(ROOT / "feature_specs", specs)
    config = _config(root, specs)
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    days = sorted(p.name.split("=", 1)[1] for p in (root / "features").glob("event_date=*"))
    model = _model(spark, config, root / "model")
    return {"root": root, "specs": specs, "config": config, "days": days, "model": model}


@pytest.fixture(scope="module")
def recomputed(spark, data, tmp_path_factory):
    """The last three dates scored computing their features (`scoring.features: recompute`),
    as two tests read them: (summary, scores by transaction_id). Read only."""
    days = data["days"]
    out = tmp_path_factory.mktemp("recomputed") / "scores"
    return _score(spark, data["config"], out, days[-3], days[-1], data["model"],
                  features="recompute")  # fmt: skip


def _score(spark, config, out: Path, start, end, model, **more):
    """(summary, scores by transaction_id) of one job writing to `out`."""
    updates = {"output": str(out), **more}
    config = config.model_copy(update={"scoring": config.scoring.model_copy(update=updates)})
    result = run_scoring(spark, config, start=start, end=end, model_uri=model)
    frame = pq.read_table(str(out)).to_pandas()
    frame = frame[frame["event_date"].astype(str).between(str(start), str(end))]
    return result.summary, frame.set_index("transaction_id").sort_index()


def _moved_features(config, path: Path):
    return config.model_copy(
        update={"paths": config.paths.model_copy(update={"features": str(path)})}
    )


def test_a_feature_table_whose_files_changed_is_not_read(spark, data, recomputed, tmp_path):
    # a date's partition deleted from the feature table (a retention rule, a partial copy),
    # the canonical table unchanged: the job read the table's rows, the date had no
    # scores, and the summary said the canonical table had no transactions that day
    config, days, model = data["config"], data["days"], data["model"]
    start, gone, end = days[-3], days[-2], days[-1]
    summary, computed = recomputed
    assert summary["features_source"]["source"] == "computed"
    assert set(computed["event_date"].astype(str)) == {start, gone, end}
    summary, read = _score(spark, config, tmp_path / "read", start, end, model)
    assert summary["features_source"]["source"] == "feature_table"  # current: the same bits
    np.testing.assert_array_equal(read["fraud_score"], computed["fraud_score"])

    copy = tmp_path / "features"
    shutil.copytree(data["root"] / "features", copy)
    shutil.rmtree(copy / f"event_date={gone}")
    moved = _moved_features(config, copy)
    summary, got = _score(spark, moved, tmp_path / "lost", start, end, model)
    source = summary["features_source"]
    assert source["source"] == "computed", source
    assert "data files are not the ones `features` wrote" in source["why_computed"]
    assert summary["dates_without_rows"] == []
    np.testing.assert_array_equal(got["fraud_score"], computed["fraud_score"])

    # a file copied in beside a date's own (the same rows twice)
    shutil.copytree(data["root"] / "features" / f"event_date={gone}", copy / f"event_date={gone}")
    part = next((copy / f"event_date={end}").glob("part-*.parquet"))
    shutil.copy(part, part.with_name("part-00000-copied-c000.snappy.parquet"))
    summary, got = _score(spark, moved, tmp_path / "copied", start, end, model)
    assert summary["features_source"]["source"] == "computed"
    assert got.index.is_unique and list(got.index) == list(computed.index)

    # a table written before its data files were recorded: not read
    (copy / f"event_date={end}" / "part-00000-copied-c000.snappy.parquet").unlink()
    meta_path = copy / "_features.json"
    meta = json.loads(meta_path.read_text())
    del meta["data_files"]
    meta_path.write_text(json.dumps(meta))
    (copy / "._features.json.crc").unlink(missing_ok=True)
    (copy / "_files.json").unlink()  # nor the record of its files (session 30)
    summary, _ = _score(spark, moved, tmp_path / "older", start, end, model)
    assert "records no list of its data files" in summary["features_source"]["why_computed"]


def test_specs_computing_more_than_the_model_reads_score_both_ways(spark, data, tmp_path):
    # a spec file added after the model was trained (for a challenger): the model reads its
    # own features by name. It scored reading the feature table, and computing (the
    # table stale, or scoring.features: recompute) refused: "extra in the specs"
    config, days, model = data["config"], data["days"], data["model"]
    specs = tmp_path / "specs"
    shutil.copytree(data["specs"], specs)
    (specs / "zz_extra.yaml").write_text(EXTRA)
    more = config.model_copy(update={"features": config.features.model_copy(update={
        "spec_dir": str(specs), "spec_files": (*SPECS, "zz_extra.yaml")})})  # fmt: skip
    day = days[-1]
    summary, read = _score(spark, more, tmp_path / "read", day, day, model)
    assert summary["features_source"]["source"] == "feature_table"
    summary, computed = _score(spark, more, tmp_path / "computed", day, day, model,
                               features="recompute")  # fmt: skip
    assert summary["features_source"]["source"] == "computed"
    assert len(computed) > 0
    np.testing.assert_array_equal(computed["fraud_score"], read["fraud_score"])


def test_evaluate_reads_the_models_features_of_a_table_that_holds_more(spark, data, tmp_path):
    # the feature table rebuilt with one more spec file (to train a challenger), then the
    # champion evaluated on it: refused as "extra in the specs", naming the specs, not the
    # table; the champion reads its own features by name, as `score` does
    config, days, model = data["config"], data["days"], data["model"]
    window = {"start": days[-6], "end": days[-1]}
    base, _ = run_evaluation(spark, config, model_uri=model, name="base", **window)
    specs = tmp_path / "specs"
    shutil.copytree(data["specs"], specs)
    (specs / "zz_extra.yaml").write_text(EXTRA)
    more = _moved_features(config, tmp_path / "features").model_copy(update={
        "features": config.features.model_copy(update={
            "spec_dir": str(specs), "spec_files": (*SPECS, "zz_extra.yaml")})})  # fmt: skip
    build_feature_table(spark, more)
    meta = json.loads((tmp_path / "features" / "_features.json").read_text())
    old = json.loads((data["root"] / "features" / "_features.json").read_text())
    assert len(meta["feature_names"]) == len(old["feature_names"]) + 1
    report, _ = run_evaluation(spark, more, model_uri=model, name="more", **window)
    for key in ("rows", "frauds", "roc_auc", "average_precision", "alert_budgets"):
        assert report[key] == base[key], key
    # a table that lacks one of the model's features names the table and the features
    less = _config(
        data["root"],
        data["specs"],
        **{"features.spec_files": list(SPECS[:2]), "paths.features": str(tmp_path / "less")},
    )
    build_feature_table(spark, less)
    with pytest.raises(
        ScoringInputError,
        match=r"the feature table .*less lacks 1 of the model's features: \['amount_log1p'\]",
    ):
        run_evaluation(spark, less, model_uri=model, name="less", **window)


def test_evaluate_a_window_outside_the_table_names_the_dates_it_holds(spark, data):
    # the next day, delivered to the canonical table but `features` not run yet, read as a
    # window to move ("pick a window inside it") without the table's dates or the fix
    config, days, model = data["config"], data["days"], data["model"]
    after = (dt.date.fromisoformat(days[-1]) + dt.timedelta(days=1)).isoformat()
    with pytest.raises(
        EmptyInputError,
        match=rf"no rows dated {after}..{after} in the feature table .* \(it holds "
        rf"{days[0]}..{days[-1]}\): pick a window inside it, or run `fraud-app features`",
    ):
        run_evaluation(spark, config, model_uri=model, start=after, end=after, name="after")


def test_a_job_records_its_window_scored_at_and_the_data_it_read(spark, data, recomputed, tmp_path):
    """From a scores row an auditor gets to its job (the summary's `scored_at` is the rows'
    value; `created_at` is later), the window asked for (the dates with rows said less: a
    day without transactions was not there) and a digest of the partitions read, equal when
    a re-run reads the same rows (and gives the same scores), other when a value changed.
    Was: no window, no scored_at, no record of the files read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    config, days, model = data["config"], data["days"], data["model"]
    start, end = days[-3], days[-1]
    later = (dt.date.fromisoformat(end) + dt.timedelta(days=2)).isoformat()
    first, rows = _score(spark, config, tmp_path / "s1", start, later, model)
    assert first["window"] == {"start": start, "end": later}
    assert set(rows["scored_at"].astype(str)) == {first["scored_at"].replace("T", " ")}
    files = first["features_source"]["data_files"]
    assert first["features_source"]["source"] == "feature_table"
    assert files["files"] == 3 and (files["first_date"], files["last_date"]) == (start, later)
    again, rows2 = _score(spark, config, tmp_path / "s2", start, later, model)
    assert again["features_source"]["data_files"] == files
    np.testing.assert_array_equal(rows2["fraud_score"], rows["fraud_score"])

    # computed: the canonical table up to the job's last date (the history), whose one
    # changed value (by pyarrow, its _files.json then deleted as the integrity error says)
    # gives another digest
    computed, _ = recomputed  # days[-3]..days[-1]
    assert (start, end) == (days[-3], days[-1])
    canon = computed["features_source"]["data_files"]
    assert computed["features_source"]["source"] == "computed"
    assert canon["first_date"] is None and canon["last_date"] == end
    assert canon["files"] == len(list((data["root"] / "canonical").glob("event_date=*/*.parquet")))
    copy = tmp_path / "canonical"
    shutil.copytree(data["root"] / "canonical", copy)
    (copy / "_files.json").unlink()
    part = next((copy / f"event_date={days[0]}").glob("*.parquet"))
    table = pq.read_table(part)
    i = table.column_names.index("amount")
    bumped = pc.add(table.column("amount"), pa.scalar(0.01, table.schema.field(i).type))
    pq.write_table(
        table.set_column(i, "amount", bumped), part, use_deprecated_int96_timestamps=True
    )
    part.with_name(f".{part.name}.crc").unlink()  # Hadoop's checksum of the old bytes
    moved = config.model_copy(
        update={"paths": config.paths.model_copy(update={"canonical": str(copy)})}
    )
    changed, _ = _score(spark, moved, tmp_path / "c2", start, end, model, features="recompute")
    assert changed["features_source"]["data_files"]["digest"] != canon["digest"]


def test_a_job_reads_each_footer_once(spark, data, tmp_path, caplog):
    """A computed job read the canonical table's Parquet footers three times (its
    `_files.json` check, the emptied-input counts of 29 dates, the provenance digest of every
    date up to the last): now once per file through the run's FooterCache, with the same
    digest as reads without it; the feature-table path reads each of both tables' once."""
    import logging

    from fraud_app.etl.fs import HadoopFs
    from fraud_app.scoring.provenance import source_files

    config, days, model = data["config"], data["days"], data["model"]
    start, end = days[-2], days[-1]
    canonical = len(list((data["root"] / "canonical").glob("event_date=*/*.parquet")))
    features = len(list((data["root"] / "features").glob("event_date=*/*.parquet")))

    def reads() -> list[int]:
        said = [r.args[2] for r in caplog.records if "Parquet footer(s) read" in r.msg]
        caplog.clear()
        return said

    with caplog.at_level(logging.DEBUG, logger="fraud_app.scoring.job"):
        computed, _ = _score(spark, config, tmp_path / "c", start, end, model,
                             features="recompute")  # fmt: skip
        assert reads() == [canonical]  # was 3 reads of the last 29 dates' files, 2 of others
        table, _ = _score(spark, config, tmp_path / "t", start, end, model)
        assert reads() == [canonical + features]
    assert table["features_source"]["source"] == "feature_table"
    fs = HadoopFs(spark)
    uncached = source_files(fs, config.canonical_table(), None, dt.date.fromisoformat(end))
    assert computed["features_source"]["data_files"] == uncached
    uncached = source_files(
        fs, config.feature_table(), *(dt.date.fromisoformat(d) for d in (start, end))
    )
    assert table["features_source"]["data_files"] == uncached
