"""`fraud_app.scoring.late_rows.unscored_dates` on real Parquet partitions (session 36): a
date scored earlier whose canonical partition now holds more rows than its scores is
named; the dates scored now, dates whose rows are all scored and dates that lost rows are
not. Counts come from the footers (pyarrow-written files; HadoopFs of the test session)."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache
from fraud_app.scoring.late_rows import unscored_dates, warn_unscored

pytestmark = pytest.mark.spark


def _partition(table: Path, day: str, rows: int, files: int = 1) -> None:
    folder = table / f"event_date={day}"
    folder.mkdir(parents=True)
    for i in range(files):
        ids = pa.array([f"t{day}-{i}-{j}" for j in range(rows // files)])
        pq.write_table(pa.table({"transaction_id": ids}), folder / f"part-{i}.parquet")


def test_dates_scored_before_their_late_rows_arrived_are_named(spark, tmp_path, caplog):
    canonical, scores = tmp_path / "canonical", tmp_path / "scores"
    for day, rows, files in (("2024-01-25", 10, 1), ("2024-01-26", 12, 2), ("2024-01-27", 8, 1),
                             ("2024-01-28", 6, 1), ("2024-01-29", 5, 1)):  # fmt: skip
        _partition(canonical, day, rows, files)
    _partition(scores, "2024-01-25", 10)  # every row scored
    _partition(scores, "2024-01-26", 9)  # 3 late rows arrived after it was scored
    _partition(scores, "2024-01-27", 9)  # a row gone since (not this case)
    _partition(scores, "2024-01-28", 2)  # scored now: this job's date
    (scores / "event_date=2024-01-30").mkdir()  # an empty partition, no canonical rows
    got = unscored_dates(
        HadoopFs(spark), str(canonical), str(scores), {"2024-01-28"}, FooterCache()
    )
    assert got == {"2024-01-26": {"canonical_rows": 12, "scored_rows": 9, "unscored_rows": 3}}
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.late_rows"):
        warn_unscored("2024-01-28", "2024-01-28", got, str(canonical))
    assert (
        f"score 2024-01-28..2024-01-28: 3 transaction(s) of 1 date(s) scored by an earlier job "
        f"arrived in {canonical} after that job and have no score: 2024-01-26 (3 of 12 rows)"
    ) in caplog.text
    assert "`fraud-app score --date 2024-01-26`" in caplog.text


def test_a_partition_gone_since_the_table_was_listed_is_not_judged(spark, tmp_path):
    """The check runs after the job released the scores' lock: another job's swap (final ->
    old -> final) or cleanup, or a person removing a date, can take a partition away between
    the folder listing and the file listing. That raised a Py4J FileNotFoundException out
    of the job after its scores were swapped in (no summary); now that date is not judged
    and the others are."""
    from fraud_app.etl.partition_swap import partition_name
    from fraud_app.scoring.late_rows import _partition_rows

    scores = tmp_path / "scores"
    _partition(scores, "2024-01-01", 10)
    listed = {partition_name("2024-01-01"), partition_name("2024-01-02")}  # 01-02 gone since
    rows = _partition_rows(HadoopFs(spark), str(scores), ["2024-01-01", "2024-01-02"], listed,
                           FooterCache())  # fmt: skip
    assert rows == {"2024-01-01": 10, "2024-01-02": None}


def test_each_partition_is_listed_as_list_sizes_lists_it(spark, tmp_path):
    """`HadoopFs.folder_sizes` (session 37: the per-date listing of `unscored_dates`, in
    fewer Py4J round trips) gives each folder's `list_sizes`: nested folders, hidden and
    `_` entries skipped, an empty folder [], and None for a folder gone since the table was
    listed (list_sizes raised there: the date is not judged)."""
    table = tmp_path / "t"
    _partition(table, "2024-01-01", 6, files=2)
    (table / "event_date=2024-01-01" / "_SUCCESS").write_text("")
    (table / "event_date=2024-01-01" / ".part-9.parquet.crc").write_text("x")
    nested = table / "event_date=2024-01-02" / "bucket=1"
    nested.mkdir(parents=True)
    pq.write_table(pa.table({"transaction_id": ["a", "b"]}), nested / "part-0.parquet")
    (table / "event_date=2024-01-02" / "_temporary" / "0").mkdir(parents=True)
    (table / "event_date=2024-01-03").mkdir()
    fs = HadoopFs(spark)
    names = ["event_date=2024-01-01", "event_date=2024-01-02", "event_date=2024-01-03"]
    got = fs.folder_sizes(str(table), [*names, "event_date=2024-01-04"])
    assert got == {**{n: fs.list_sizes(f"{table}/{n}") for n in names},
                   "event_date=2024-01-04": None}  # fmt: skip
    assert [len(got[n]) for n in names] == [2, 1, 0]


def _round_trips(spark, monkeypatch) -> list[str]:
    """The Py4J commands the driver sends from now on (counted on their way, not changed).
    Py4J's memory deletes (`m d <id>`) are left out: a Java object's Python proxy sends one
    when the garbage collector takes it, at any later time, so an earlier test's objects
    counted here too (225 "round trips" of a 12-call read, in a run of tests/fraud_app/etl)."""
    client = spark.sparkContext._gateway._gateway_client
    sent, send = [], client.send_command

    def counted(command, *args, **kwargs):
        if not command.startswith("m\nd\n"):
            sent.append(command)
        return send(command, *args, **kwargs)

    monkeypatch.setattr(client, "send_command", counted)
    return sent


def test_the_check_costs_few_jvm_round_trips_per_scored_date(spark, tmp_path, monkeypatch):
    """Its cost grows with every scored date: at 365 dates it took 4-9 s per `score`, three
    quarters of it Py4J's looking up the Hadoop Path class again for every path made (five round
    trips each), the rest a status call, a file-system lookup and a listing per date and
    table: 52 round trips per date and table here (one file per partition, the tables'
    listings included), 16 now: the class looked up once, the file system once per table,
    the folders listed without asking their status first (session 37; docs/PROBES.md)."""
    canonical, scores = tmp_path / "canonical", tmp_path / "scores"
    days = [f"2024-02-{d:02d}" for d in range(1, 21)]
    for day in days:
        _partition(canonical, day, 5)
        _partition(scores, day, 4 if day == "2024-02-07" else 5)
    fs = HadoopFs(spark)
    sent = _round_trips(spark, monkeypatch)
    got = unscored_dates(fs, str(canonical), str(scores), set(), FooterCache())
    assert got == {"2024-02-07": {"canonical_rows": 5, "scored_rows": 4, "unscored_rows": 1}}
    per_date_and_table = len(sent) / (2 * len(days))
    assert per_date_and_table <= 20, f"{len(sent)} Py4J round trips for {len(days)} dates"
