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
