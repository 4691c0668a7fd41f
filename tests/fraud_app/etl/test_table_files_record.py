"""A table whose part files are not the ones its step wrote is refused by name (session 30).

A part file deleted (a partial copy or sync), a date partition missing in the middle of
the range, a part file replaced by another date's file of the same name, `_features.json`
edited: the steps that read the table computed on fewer or other rows without a word
(`features` on a canonical table short of a date; `train` on a feature table short of a
date; the replaced file's rows read as the folder's date). Every writer now records its
files (`_files.json`: relative path and size, the sha256 of `_features.json`) and the
readers compare (fraud_app.etl.manifest). Real Spark: the real ETL, features, labels; the
project built once for the module and put back as built for each test (`config`)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table, feature_set_from_config
from fraud_app.features.table import read_feature_metadata
from fraud_app.scoring.table_source import table_rows
from pipelines.training.feature_input import read_features
from tests.fraud_app.csv_project import BuiltProject

pytestmark = pytest.mark.spark
MANIFEST_NAME = "_files.json"  # fraud_app.etl.manifest's
DAYS = 6
DAY5 = dt.date(2024, 1, 5)
CSV = "transaction_id,card_id,timestamp,amount,label\n" + "".join(
    f"t{i},c{i % 5},2024-01-0{1 + i % DAYS} {10 + i % 12}:0{i % 6}:00,{10 + i}.5,{int(i % 7 == 0)}\n"
    for i in range(60)
)


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory) -> BuiltProject:
    """`etl` of CSV, then `features` with the shipped specs, once for the module."""
    return BuiltProject(spark, tmp_path_factory.mktemp("project"), CSV)


@pytest.fixture
def config(built):
    """The project as `etl` and `features` left it, for this test alone."""
    return built.fresh()


def _part(table: str, day: str) -> Path:
    return sorted(Path(table).glob(f"event_date=2024-01-0{day}/part-*.parquet"))[0]


def _replace(table: str, day: str, other: str) -> None:
    """`day`'s part file overwritten by `other`'s, by a tool that knows nothing of Hadoop's
    `.crc` files (on HDFS or an object store there is none beside it to fail)."""
    part = _part(table, day)
    part.write_bytes(_part(table, other).read_bytes())
    part.with_name(f".{part.name}.crc").unlink(missing_ok=True)


def test_a_missing_canonical_part_file_stops_features(spark, config):
    canonical = config.canonical_table()
    record = json.loads((Path(canonical) / MANIFEST_NAME).read_text())
    assert record["files"] == DAYS
    assert sum(e["bytes"] for e in record["data_files"].values()) == record["bytes"]
    gone = _part(canonical, "3")
    gone.unlink()  # a partial copy: the date's only file (10 of 60 rows)
    with pytest.raises(DataIntegrityError) as info:
        build_feature_table(spark, config)  # computed on 50 rows, without a word, before
    message = str(info.value)
    assert message.startswith(
        f"canonical table {canonical}: its data files are not the ones `fraud-app etl` wrote "
        f"(its _files.json): of the {DAYS} data files written ("
    ), message
    assert f"1 missing (event_date=2024-01-03/{gone.name} (" in message
    assert message.endswith(
        "Put back the files from a copy, or rebuild the table (`fraud-app etl`); to read "
        f"the table as it is now, delete {canonical}/_files.json"
    )
    (Path(canonical) / MANIFEST_NAME).unlink()  # the user accepts the table as it is
    assert build_feature_table(spark, config).rows == 50


def test_a_feature_table_short_of_a_date_or_with_a_swapped_file_stops_train(
    spark, tmp_path, config
):
    features = config.feature_table()
    df, _ = read_features(spark, config)
    assert df.count() == 60
    copy = tmp_path / "copy"
    shutil.copytree(features, copy)
    # another date's file under this date's file name: its rows read as this date's
    _replace(features, "2", "5")
    with pytest.raises(DataIntegrityError, match=r"1 changed \(event_date=2024-01-02/part-"):
        read_features(spark, config)
    shutil.rmtree(features)
    shutil.copytree(copy, features)
    shutil.rmtree(Path(features) / "event_date=2024-01-04")  # a partition lost mid-range
    with pytest.raises(DataIntegrityError, match=r"1 missing \(event_date=2024-01-04/part-"):
        read_features(spark, config)  # trained on 50 of 60 rows before
    shutil.rmtree(features)
    shutil.copytree(copy, features)
    assert read_features(spark, config)[0].count() == 60  # put back: read


def test_an_edited_features_json_is_refused(spark, config):
    """The vector is read with `_features.json`'s names: two names swapped by hand made
    train label each column with the other's name."""
    meta_path = Path(config.feature_table()) / "_features.json"
    meta = json.loads(meta_path.read_text())
    names = meta["feature_names"]
    names[0], names[1] = names[1], names[0]
    meta_path.write_text(json.dumps(meta, indent=2))
    with pytest.raises(DataIntegrityError, match="its _features.json was changed after it"):
        read_features(spark, config)  # Hadoop's checksum of the old text beside it
    meta_path.with_name("._features.json.crc").unlink()  # an editor that removes it, or HDFS
    with pytest.raises(DataIntegrityError, match="its _features.json was changed after it"):
        read_features(spark, config)  # trained with the two columns' names swapped before


def test_score_computes_when_a_feature_file_was_swapped(spark, config):
    """The scorer read the feature table when its file NAMES were the ones written: a file
    replaced under the same name gave the scored date another date's rows."""
    names = read_feature_metadata(config.feature_table(), spark)["feature_names"]
    feature_set = feature_set_from_config(config.features)
    rows = table_rows(spark, config, feature_set, names, DAY5, DAY5)
    assert rows.df is not None, rows.why
    rows.close()
    _replace(config.feature_table(), "5", "4")
    rows = table_rows(spark, config, feature_set, names, DAY5, DAY5)
    assert rows.df is None
    assert rows.why.startswith("its files are not the ones `features` wrote: ")
    assert "1 changed (event_date=2024-01-05/part-" in rows.why


def test_append_and_labels_keep_the_record_and_refuse_a_damaged_table(spark, tmp_path, config):
    canonical = config.canonical_table()
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label\nt1,1\n")  # a chargeback rewrites 2024-01-02
    assert len(run_labels(spark, config, [str(feed)]).partitions_rewritten) == 1
    build_feature_table(spark, config)  # reads the canonical table: its record was updated
    more = tmp_path / "more"
    more.mkdir()
    (more / "e.csv").write_text(
        "transaction_id,card_id,timestamp,amount,label\nn1,c1,2024-01-07 10:00:00,5.0,0\n"
    )
    appended = config.model_copy(update={"etl": config.etl.model_copy(
        update={"input": str(more), "mode": "append"})})  # fmt: skip
    run_etl(spark, appended)
    assert build_feature_table(spark, config).rows == 61
    record = json.loads((Path(canonical) / MANIFEST_NAME).read_text())
    assert record["files"] == DAYS + 1
    _part(canonical, "6").unlink()
    (more / "e.csv").write_text(
        "transaction_id,card_id,timestamp,amount,label\nn2,c1,2024-01-07 11:00:00,5.0,0\n"
    )
    with pytest.raises(DataIntegrityError, match="1 missing"):
        run_etl(spark, appended)  # would have recorded the loss as written
    with pytest.raises(DataIntegrityError, match="1 missing"):
        run_labels(spark, config, [str(feed)])
