"""Why an append reads the transaction ids of every published date for its dedup (session
34 looked at narrowing it to the dates the delivery holds, and left it): a transaction
re-delivered with a corrected timestamp on ANOTHER date (a time zone fix moving it past
midnight, weeks later) holds an id the table has only on the old date. Read only the
delivery's dates, it would be published a second time under the same id (a key the
table holds once, which `labels` and the features join on). It is a conflicting duplicate,
kept as published and quarantined with the reason, however far back its date is."""

from __future__ import annotations

import pytest

from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_etl_runs import HEADER, _cfg, _write

pytestmark = pytest.mark.spark


def test_an_id_redelivered_on_another_date_is_a_conflict_not_a_new_row(spark, tmp_path):
    day = "t{i},c1,m1,2024-01-{d:02d} {h}:00:00,{i}.5,0"
    first = [day.format(i=i, d=1 + i, h=10) for i in range(30)]  # 30 dates, one row each
    d1 = _write(tmp_path / "d1" / "a.csv", "\n".join([HEADER, *first]) + "\n")
    run_etl(spark, _cfg(tmp_path, d1, mode="append"))
    # t2 (published on 01-03) re-delivered 28 days later dated 01-31, beside a new row
    second = [day.format(i=2, d=31, h=23), day.format(i=99, d=31, h=12)]
    d2 = _write(tmp_path / "d2" / "b.csv", "\n".join([HEADER, *second]) + "\n")

    r = run_etl(spark, _cfg(tmp_path, d2, mode="append"))

    assert (r.previous_rows, r.output_rows, r.quarantine_by_reason) == (
        30, 31, {"conflicting_duplicate": 1},
    )  # fmt: skip
    rows = spark.read.parquet(r.output_path).where("transaction_id = 't2'").collect()
    assert [str(row.event_date) for row in rows] == ["2024-01-03"]  # once, as published
