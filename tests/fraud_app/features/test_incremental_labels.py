"""Dates that changed only in labels: `features` recomputes from where the labels reach
(session 33).

A label reaches other rows' features only once it is known (label_time, else timestamp +
the label delay), and the row's own date only in its label columns. Each step (a late
label filled by `labels`, a replace-mode ETL that rewrites every date with a fraud taken
back and a label_time moved, one with a label changed beside another column) is followed
by the incremental build and a full rebuild of the same canonical table: the two tables
are equal row for row and value for value, and so are their `_features.json`. The first
step's date is compared after the second (which rewrites neither it nor, in either mode, a
date the first step wrote: checked by their part files), one full rebuild less a mode
(session 50). Both label modes. Real parts: the ETL, the label feed, local Spark, files."""

from __future__ import annotations

import pytest

from fraud_app.etl.labels import run_labels
from tests.fraud_app.features.test_incremental_build import (
    _build,
    _csv,
    _deliver,
    _meta,
    _part_files,
    _project,
    _rows,
    _same_as_full,
)

pytestmark = pytest.mark.spark


def _feed(tmp_path, name: str, rows: list[dict], label_time: bool) -> str:
    path = tmp_path / f"{name}.csv"
    head = "transaction_id,label" + (",label_time" if label_time else "")
    path.write_text(head + "\n" + "".join(
        f"{r['transaction_id']},{r['label']}" + (f",{r['label_time']}" if label_time else "") + "\n"
        for r in rows
    ))  # fmt: skip
    return str(path)


def _reach(row: dict, label_time: bool) -> str:
    """The date a fraud's label reaches other rows: its label_time, else timestamp + 1 day."""
    if label_time:
        return row["label_time"][:10]
    return f"2024-03-{int(row['timestamp'][8:10]) + 1:02d}"


@pytest.mark.parametrize("label_time", [True, False], ids=["label_time", "delay_only"])
def test_dates_changed_only_in_labels_recompute_from_where_the_labels_reach(
    spark, tmp_path, caplog, label_time
):
    """9 days (were 12): the late labels known on 2024-03-08 reach inside the data, and the
    label_time moved later (2024-03-08 -> 2024-03-09 23:00) moves a whole day of rows."""
    cfg = _project(tmp_path, label_time)
    days = {d: _rows(d, 30, d) for d in range(1, 10)}
    late_1, late_0 = dict(days[3][0]), dict(days[2][1])
    for r in (days[3][0], days[2][1]):  # delivered unlabelled: confirmed late
        r["label"] = r["label_time"] = ""
    history = [r for d in range(1, 10) for r in days[d]]
    _deliver(spark, cfg, tmp_path, "history", _csv(history, label_time, 9), "replace")
    _build(spark, cfg(), caplog)

    # a normal label filled late: only its own date's label columns change. Its date,
    # 2024-03-02, is before every date the next step rewrites in either mode (from
    # 2024-03-08 or 2024-03-04, and 2024-03-03's labels), so the next step's compare checks
    # what this one wrote there; here: it rewrote that date alone, and its `_features.json`
    # differs from the first build's only in what records the input and the files
    table = cfg().feature_table()
    files, meta = _part_files(table), _meta(table)
    late_0.update(label="0", label_time="2024-03-08 13:00:00")
    run_labels(spark, cfg(), [_feed(tmp_path, "zero", [late_0], label_time)])
    build, log = _build(spark, cfg(), caplog)
    assert build["mode"] == "incremental" and build["from"] is None, build
    assert build["labels_only"] == ["2024-03-02"], build
    assert "no changed label reaches other rows" in log, log
    zero = _part_files(table)
    assert sorted(zero) == sorted(files), (files, zero)
    for day in zero:  # each write names its files anew
        kept = zero[day] == files[day]
        assert kept == (day != "2024-03-02") and (kept or not set(zero[day]) & set(files[day])), day
    inputs = ("source", "incremental", "data_files")
    assert {k: v for k, v in _meta(table).items() if k not in inputs} == {
        k: v for k, v in meta.items() if k not in inputs
    }

    # a fraud confirmed five days late: from when it is known (delay-only: timestamp + 1 day)
    late_1.update(label="1", label_time="2024-03-08 12:00:00")
    run_labels(spark, cfg(), [_feed(tmp_path, "one", [late_1], label_time)])
    build, log = _build(spark, cfg(), caplog)
    reach = _reach(late_1, label_time)
    assert build["from"] == reach and build["changed_dates"] == ["2024-03-03"], build
    assert build.get("labels_only", []) == (["2024-03-03"] if reach > "2024-03-03" else []), build
    assert f"recomputing the dates from {reach}" in log and late_1["transaction_id"] in log, log
    assert _part_files(table)["2024-03-02"] == zero["2024-03-02"]  # as the step before left it
    _same_as_full(spark, cfg, tmp_path, "zero-one")

    # every date rewritten (a replace), a fraud taken back and a label_time moved later:
    # from where the OLD labels reached
    frauds = [r for d in (2, 6) for r in days[d] if r["label"] == "1"]
    back, moved = frauds[0], frauds[-1]
    assert back["timestamp"][:10] == "2024-03-02" and moved["timestamp"][:10] == "2024-03-06"
    old = [_reach(back, label_time)] + ([_reach(moved, True)] if label_time else [])
    back["label"] = "0"
    if label_time:
        moved["label_time"] = "2024-03-09 23:00:00"
    _deliver(spark, cfg, tmp_path, "again", _csv(history, label_time, 9), "replace")
    build, log = _build(spark, cfg(), caplog)
    start = min(old)
    assert len(build["changed_dates"]) == 9 and build["from"] == start, build
    own = sorted({"2024-03-02", "2024-03-06"} if label_time else {"2024-03-02"})
    assert build["labels_only"] == [d for d in own if d < start], build
    _same_as_full(spark, cfg, tmp_path, "replaced")

    # a label changed beside another column of the same row (day 4), and a label alone on
    # day 1: day 4 is recomputed from its own date (date-level), day 1 patched
    beside, alone = days[4][2], days[1][4]
    assert beside["label"] == alone["label"] == "0"
    beside.update(label="1", label_time="2024-03-05 08:00:00", amount="77.77")
    alone.update(label="1", label_time="2024-03-09 08:00:00")
    _deliver(spark, cfg, tmp_path, "third", _csv(history, label_time, 9), "replace")
    build, log = _build(spark, cfg(), caplog)
    start = min("2024-03-04", _reach(alone, label_time))
    assert build["from"] == start and build["labels_only"] == ["2024-03-01"], build
    assert "the first date changed otherwise: 2024-03-04" in log, log
    _same_as_full(spark, cfg, tmp_path, "beside")
