"""A damaged commit marker (`_staging/<job>/_committing.json`, `_killed.json`,
`_abandoned.json`: fraud_app.etl.partition_swap) is refused by readers and writers, naming
the file, what is wrong with it, what was expected and the ways out; never read as "no
marker" nor taken over as a marker of an older release.

The marker is what says that a killed `etl --mode append` left the table half-updated,
which dates it swapped in and from which input. An unreadable one (truncated, emptied, a
byte flipped, edited into other JSON, written by a newer release) was read as `{}`: the
next writer (the next day's delivery, a label feed) took the half change over as an older
release's marker (no input to compare: `check_takeover` let it through), re-recorded the
table's files as they were and published beside half a delivery, and readers read it
whole from then on. With Hadoop's `.crc` beside it (a local disk), a flipped byte was a
Py4J ChecksumException traceback. The kill is real (test_append_kill.py's child, SIGKILL
between the two renames of a date)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError, SchemaError
from fraud_app.etl.commit_source import repeated_job
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.partition_swap import MARKER_FORMAT, _problem
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from fraud_app.features.table import read_feature_metadata
from tests.fraud_app.etl.test_append_incremental import _cfg, _first_delivery, _row, _write
from tests.fraud_app.etl.test_append_kill import _start


def _flip(data: bytes, at: int, mask: int = 0x80) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


def _edited(data: bytes, **changes) -> bytes:
    return json.dumps({**json.loads(data), **changes}).encode()


# (name, damage of the marker's bytes, the reason the error gives); the `.crc` removed
# (HDFS keeps none beside the file, nor does a copy that drops it) unless said
DAMAGES = [
    ("truncated", lambda b: b[: len(b) // 2], r"not JSON \("),
    ("emptied", lambda b: b"", r"it is empty \(0 bytes\)"),
    ("a byte flipped into invalid UTF-8", lambda b: _flip(b, len(b) // 2), r"not UTF-8 text"),
    ("a JSON list", lambda b: b"[]", r"a JSON list, not an object"),
    ("dates as text", lambda b: _edited(b, dates="2024-01-01"), r"dates '2024-01-01': not a list"),
    ("dates missing", lambda b: _edited(b, dates=None), r"dates None: not a list of dates"),
    ("a date edited", lambda b: _edited(b, dates=["2024-13-01"]), r"dates \['2024-13-01'\]: not all YYYY-MM-DD"),
    ("pid as text", lambda b: _edited(b, pid="12"), r"pid '12', host '[^']+': not a process"),
    ("input as text", lambda b: _edited(b, input="d2"), r"input 'd2': not an object"),
    ("a newer format", lambda b: _edited(b, format=MARKER_FORMAT + 1),
     rf"format {MARKER_FORMAT + 1}: this release reads format {MARKER_FORMAT} and older"),
]  # fmt: skip


def test_the_marker_checks_name_each_field_a_decision_reads():
    good = {"format": 1, "pid": 12, "host": "h", "process_start": None, "dates": ["2024-01-01"]}
    assert _problem(good) is None
    assert _problem({k: v for k, v in good.items() if k != "format"}) is None  # session 36-39
    assert _problem({**good, "input": {"step": "etl"}}) is None
    assert "pid True" in _problem({**good, "pid": True})
    assert "not a list of dates" in _problem({**good, "dates": [1]})
    assert "format True" in _problem({**good, "format": True})


@pytest.mark.spark
@pytest.mark.slow  # a second JVM, killed: ~1 min on a loaded machine
def test_a_damaged_marker_of_a_killed_append_is_refused_by_readers_and_writers(spark, tmp_path):
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table = Path(first.output_path)
    rows = [_row("t40", 1), _row("t41", 2), _row("t42", 6)]
    killed = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", rows))
    paused, tail = _start(tmp_path, killed, "between_renames")  # 01-01 in, 01-02 in `old`
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"
    (marker,) = table.glob("_staging/etl-*/_committing.json")
    crc = marker.parent / f".{marker.name}.crc"
    written = marker.read_bytes()
    assert json.loads(written)["format"] == MARKER_FORMAT and crc.exists()
    next_day = _cfg(tmp_path, _write(tmp_path / "d3" / "c.csv", [_row("t50", 7)]))

    def listing() -> list[str]:  # the marker's `.crc` aside (removed below)
        return sorted(str(p.relative_to(table)) for p in table.rglob("*") if p != crc)

    before = listing()
    way_out = (
        r"Put the marker back from a copy and run the killed step again; without one, "
        r"rebuild the table \(`fraud-app etl --mode replace` over every delivery\), or, to "
        r"keep the table as the killed run left it .* delete "
        rf"{marker} and {table}/_files\.json"
    )

    def refused(why: str) -> None:
        said = rf"the commit marker {marker} cannot be read \({why}.*; expected the JSON object"
        with pytest.raises(DataIntegrityError, match=rf"^table {table} is half-updated: {said}.*{way_out}.*Nothing was written"):  # fmt: skip
            run_etl(spark, next_day)
        with pytest.raises(DataIntegrityError, match=rf"^canonical table {table} may be half-updated: {said}"):  # fmt: skip
            read_table(spark, str(table), "canonical table", "etl")
        assert listing() == before

    # Hadoop's checksum kept (a local disk): a flipped byte was a Py4J traceback
    marker.write_bytes(_flip(written, 5, 0x01))
    refused(r"Hadoop's checksum of it fails")
    crc.unlink()
    for name, damage, why in DAMAGES:
        marker.write_bytes(damage(written))
        try:
            refused(why)
        except BaseException as exc:
            exc.add_note(f"damage: {name}")
            raise
    # the documented way to keep the table as the kill left it: the next run goes on
    marker.unlink()
    (table / "_files.json").unlink()
    run_etl(spark, next_day)
    ids = {r.transaction_id for r in spark.read.parquet(str(table)).collect()}
    assert {"t40", "t50"} <= ids and not {"t41", "t42"} & ids  # 01-02 put back from `old`
    assert not (table / "_staging").exists()
    read_table(spark, str(table), "canonical table", "etl")  # recorded again


@pytest.mark.spark
def test_records_that_fail_their_hadoop_checksum_are_named_not_a_java_traceback(
    spark, tmp_path, caplog
):
    """A flipped byte in a record Hadoop wrote with its `.crc` beside it (a local disk): the
    append's look at the table's last report (`repeat_of`, on every append) and the feature
    table's `_features.json` read stopped with a Py4J ChecksumException traceback."""
    fs = HadoopFs(spark)
    report, meta = tmp_path / "_etl_report.json", tmp_path / "_features.json"
    fs.write_text(str(report), json.dumps({"job": "etl-1", "source": {"step": "etl"}}))
    fs.write_text(str(meta), json.dumps({"feature_names": ["a", "b"]}))
    for path in (report, meta):
        assert (tmp_path / f".{path.name}.crc").exists()
        path.write_bytes(_flip(path.read_bytes(), 3, 0x01))

    assert repeated_job(fs, str(report), {"step": "etl"}) is None
    assert f"{report} cannot be read (Hadoop's checksum of it fails" in caplog.text
    with pytest.raises(SchemaError, match=rf"^{meta} is not a feature-table metadata file \(ValueError: Hadoop's checksum"):  # fmt: skip
        read_feature_metadata(str(tmp_path), spark)
