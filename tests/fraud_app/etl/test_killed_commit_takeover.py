"""A killed `etl --mode append` is finished only by its own retry (the same step on the same
input); any other run that writes the canonical table first is refused, naming the killed
run's input and the command to run.

A scheduler whose retry of the killed step was skipped (cron, an Airflow task without
retries) runs the next writer: the next day's delivery, a label feed. Before, that run
took the killed run's commit marker over as if it were the retry: the dates the killed run
had swapped in kept its rows, the others never got theirs, and readers stopped refusing
the table, so `features`, `train` and `score` computed on half a delivery without a word.
The kill is real (SIGKILL of the `fraud-app etl` process group, JVM included, between the
two renames of a date: tests/fraud_app/etl/test_append_kill.py's child)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import (
    _cfg,
    _first_delivery,
    _old_append,
    _row,
    _table,
    _write,
)
from tests.fraud_app.etl.test_append_kill import _start

KILLED = r"was killed while swapping in dates 2024-01-01, 2024-01-02, 2024-01-06, and "


@pytest.mark.spark
@pytest.mark.slow  # a second JVM, killed: ~1 min on a loaded machine
def test_only_the_retry_of_a_killed_append_finishes_it_other_writers_are_refused(spark, tmp_path):
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table = Path(first.output_path)
    killed_input = _write(
        tmp_path / "d2" / "b.csv", [_row("t40", 1), _row("t41", 2), _row("t42", 6)]
    )
    cfg = _cfg(tmp_path, killed_input)
    expected, _ = _old_append(spark, cfg, str(table))
    paused, tail = _start(tmp_path, cfg, "between_renames")  # 01-01 swapped in, 01-02 in `old`
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"
    before = sorted(p.name for p in table.iterdir())

    # the next day's delivery: it took the marker over and published beside half of d2
    next_day = _cfg(tmp_path, _write(tmp_path / "d3" / "c.csv", [_row("t50", 7)]))
    retry = f"`fraud-app etl --mode append --input {killed_input}`"
    with pytest.raises(DataIntegrityError, match=(
        rf"^canonical table {table} is half-updated: job etl-\w+ \(pid \d+, started \S+\), "
        rf"`fraud-app etl` on {killed_input} \(1 file\(s\), \d+ bytes\), {KILLED}this run is "
        rf"`fraud-app etl` on {tmp_path / 'd3' / 'c.csv'} .*Run the killed step again on its input "
        rf"first \({retry}\).* or abandon the killed run: rename "
        rf"{table}/_staging/(etl-\w+)/_committing.json to {table}/_staging/\1/_abandoned.json")):  # fmt: skip
        run_etl(spark, next_day)
    # a label feed: the same
    feed = _write(tmp_path / "feed" / "f.csv", [])
    feed.write_text("transaction_id,label\nt0,1\n")
    with pytest.raises(DataIntegrityError, match=rf"{KILLED}this run is `fraud-app labels` on"):
        run_labels(spark, next_day, [str(feed)])
    # the killed run's input rewritten with other rows (a cron export into one file)
    delivered = killed_input.read_text()
    _write(killed_input, [_row("t60", 8)])
    with pytest.raises(DataIntegrityError, match=rf"{KILLED}its input now holds other files"):
        run_etl(spark, cfg)
    assert sorted(p.name for p in table.iterdir()) == before  # nothing touched
    with pytest.raises(DataIntegrityError, match="half-updated"):  # readers still refuse
        read_table(spark, str(table), "canonical table", "etl")

    killed_input.write_text(delivered)
    run_etl(spark, cfg)  # the retry: finishes d2
    assert _table(spark, str(table)) == expected
    after = run_etl(spark, next_day)
    assert after.output_rows == len(expected) + 1


def test_a_marker_without_an_input_or_a_run_without_one_is_taken_over_as_before():
    from fraud_app.etl.commit_source import check_takeover

    info = {"pid": 1, "started_at": "s", "dates": ["2024-01-01"]}
    source = {"step": "etl", "paths": ["/in"], "files": 1, "bytes": 5, "digest": "a"}
    check_takeover("/t", "etl-x", "/t/m", info, source)  # an older release's marker
    check_takeover("/t", "etl-x", "/t/m", {**info, "input": source}, None)
    check_takeover("/t", "etl-x", "/t/m", {**info, "input": source}, dict(source))  # its retry
    with pytest.raises(DataIntegrityError, match=r"`fraud-app labels /f1 /f2`"):
        labels = {"step": "labels", "paths": ["/f1", "/f2"], "files": 2, "bytes": 9, "digest": "b"}
        check_takeover("/t", "labels-x", "/t/m", {**info, "input": labels}, source)


@pytest.mark.spark
@pytest.mark.slow  # a second JVM, killed: ~1 min on a loaded machine
def test_a_retry_that_fails_before_its_commit_leaves_the_table_refused(
    spark, tmp_path, monkeypatch
):
    """The retry's recovery removed the killed run's marker at its start; a retry that then
    failed (or was killed: two kills in a row) before its own commit left half the
    delivery published and the table readable, without a word, until a third run."""
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table = Path(first.output_path)
    delivery = _write(tmp_path / "d2" / "b.csv", [_row("t40", 1), _row("t41", 2), _row("t42", 6)])
    cfg = _cfg(tmp_path, delivery)
    expected, _ = _old_append(spark, cfg, str(table))
    paused, tail = _start(tmp_path, cfg, "between_renames")
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    def fails(*args, **kwargs):
        raise RuntimeError("lost executor (injected)")

    with monkeypatch.context() as m:
        m.setattr(AppendPublish, "write", fails)
        with pytest.raises(RuntimeError, match="injected"):
            run_etl(spark, cfg)
    with pytest.raises(DataIntegrityError, match=(
        rf"^canonical table {table} is half-updated: job etl-\w+ \(pid \d+, started \S+\) was "
        r"killed while swapping in dates 2024-01-01, 2024-01-02, 2024-01-06")):  # fmt: skip
        read_table(spark, str(table), "canonical table", "etl")

    run_etl(spark, cfg)  # the next retry takes the carried-over marker and finishes
    assert _table(spark, str(table)) == expected
    assert not (table / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == len(expected)
