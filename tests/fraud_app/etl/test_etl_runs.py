"""ETL input files and runs: headers read by name (or refused naming the file), input
encodings, multi-line records, plausibility bounds, conflicting duplicates, one writer
per output root, and what killed runs leave behind."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConcurrentRunError, ConfigError, SchemaError
from fraud_app.etl import dedup
from fraud_app.etl.config import EtlSection
from fraud_app.etl.fs import HadoopFs, clean_stale_staging
from fraud_app.etl.lock import LOCK_NAME, RootLock
from fraud_app.etl.pipeline import annotate_rows, deduplicate, run_etl

REPO = Path(__file__).resolve().parents[3]
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"
ROW = "t{i},c{i},m{i},2024-01-05 10:00:00,{i}.5,0"


def _cfg(tmp_path: Path, src: Path, **etl) -> object:
    etl = {"input": str(src), "timestamp_format": "yyyy-MM-dd HH:mm:ss", **etl}
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ---- headers: read by name, or refused naming the file ------------------------------------


@pytest.mark.spark
@pytest.mark.parametrize(
    "header, problem",
    [
        ("transaction_id,card_id,merchant_id,timestamp,amount", r"lacks column\(s\) \['label'\]"),
        (HEADER + ",extra", r"has unexpected column\(s\) \['extra'\]"),
        (
            "transaction_id,card_id,merchant_id,timestamp,amount,amount",
            r"repeats column\(s\) \['amount'\]",
        ),
    ],
)
def test_a_file_whose_header_differs_is_refused_by_name(spark, tmp_path, header, problem) -> None:
    _write(tmp_path / "in" / "a.csv", HEADER + "\n" + ROW.format(i=1) + "\n")
    _write(tmp_path / "in" / "b.csv", header + "\nx,y,z,2024-01-05 10:00:00,1,0,1\n")
    with pytest.raises(SchemaError, match=rf"ETL input file \S*b\.csv: its header {problem}"):
        run_etl(spark, _cfg(tmp_path, tmp_path / "in"))
    assert not (tmp_path / "work" / "canonical").exists()


# ---- encodings and multi-line records -------------------------------------------------------


@pytest.mark.spark
def test_configured_encoding_reads_ids_exactly(spark, tmp_path) -> None:
    text = HEADER + "\nt1,carte-é,café,2024-01-05 10:00:00,3,0\n"
    src = _write(tmp_path / "in" / "latin.csv", text.encode("latin-1"))
    latin = run_etl(spark, _cfg(tmp_path, src, encoding="ISO-8859-1"))
    row = spark.read.parquet(latin.output_path).first()
    assert (row.card_id, row.merchant_id) == ("carte-é", "café")
    # latin-1 bytes read as UTF-8 (the default): quarantined, not altered, in the run of
    # test_input_count_from_the_staged_records_equals_a_count_of_the_input (t7)


@pytest.mark.spark
@pytest.mark.parametrize("multiline", [True, False])
def test_input_count_from_the_staged_records_equals_a_count_of_the_input(
    spark, tmp_path, multiline
) -> None:
    """run_etl counts the input from its staged records (one per record read) instead of
    parsing the files a second time; on malformed, multi-line, blank, undecodable and
    unterminated records both counts must agree (and the accounting add up). The same run
    checks the setting and the encoding (session 52: they had two runs each of their own):
    t2's quoted line break is one record, read as written, with `etl.csv_multiline` on (the
    default) and two malformed halves with it off; t7's latin-1 byte is not UTF-8 (the
    default encoding): quarantined, not altered."""
    from fraud_app.etl.reader import read_input

    a = (
        f"{HEADER}\n{ROW.format(i=1)}\n"
        't2,c2,"m2\nsecond line",2024-01-05 11:00:00,2,0\n'
        "t3,c3,m3,2024-01-05 12:00:00,3,0,too,many\nt4,c4\n\n"
        f"{ROW.format(i=5)}\n{ROW.format(i=5)}\n"  # an identical duplicate
    )
    b = (
        "amount,label,timestamp,merchant_id,card_id,transaction_id\r\n"
        "6,1,2024-01-06 10:00:00,m6,c6,t6\r\n7,0,2024-01-06 11:00:00,m\xff7,c7,t7\r\n"
        '8,0,2024-01-06 12:00:00,"m8 never closed,c8,t8\r\n9,0,2024-01-06 13:00:00,m9,c9,t9\r\n'
    )
    _write(tmp_path / "in" / "a.csv", a)
    _write(tmp_path / "in" / "b.csv", b.encode("latin-1"))
    cfg = _cfg(tmp_path, tmp_path / "in", **({} if multiline else {"csv_multiline": False}))
    r = run_etl(spark, cfg)
    raw, _ = read_input(spark, str(tmp_path / "in"), cfg.etl)
    assert r.input_rows == raw.count()
    assert r.input_rows == r.output_rows + r.quarantine_rows + r.duplicate_rows
    assert r.duplicate_rows == 1 and r.quarantine_rows >= 3
    published = {row.transaction_id: row for row in spark.read.parquet(r.output_path).collect()}
    quarantined = spark.read.parquet(r.quarantine_path).collect()
    reasons = {(q.raw_transaction_id, q.reason) for q in quarantined}
    assert "t7" not in published and ("t7", "invalid_encoding") in reasons, reasons
    malformed = sorted(
        str(q.raw_transaction_id) for q in quarantined if q.reason == "malformed_record"
    )
    if multiline:
        assert published["t2"].merchant_id == "m2\nsecond line"
        assert malformed == ["None", "t3", "t4"]  # t8's open quote takes t9's line along
    else:  # read line by line, the record is split into two malformed halves
        assert "t2" not in published
        assert malformed == ["None", 'second line"', "t2", "t3", "t4"]


# ---- rules without a full run ---------------------------------------------------------------


def _annotated(spark, rows, cfg: EtlSection):
    schema = ", ".join(f"{c} string" for c in HEADER.split(","))
    return annotate_rows(spark.createDataFrame(rows, schema), cfg, "test rows")


@pytest.mark.spark
def test_amount_bounds_are_configurable(spark) -> None:
    rows = [
        ("z", "c", "m", "2024-01-05 10:00:00", "0", "0"),
        ("big", "c", "m", "2024-01-05 10:00:00", "5000", "0"),
    ]
    default = {r.transaction_id: r.reason for r in _annotated(spark, rows, EtlSection()).collect()}
    assert default == {"z": None, "big": None}
    bounds = {"min_amount": 0.01, "max_amount": 1000}
    strict = _annotated(spark, rows, EtlSection(bounds=bounds)).collect()
    assert {r.transaction_id: (r.reason, r.reason_detail) for r in strict} == {
        "z": ("amount_below_minimum", "amount '0' is below 0.01 (etl.bounds.min_amount)"),
        "big": ("amount_above_maximum", "amount '5000' is above 1000 (etl.bounds.max_amount)"),
    }


@pytest.mark.spark
def test_quarantine_all_keeps_no_version_of_a_conflict(spark) -> None:
    rows = [("d", "c", "m", "2024-01-05 10:00:00", "1", "0"), ("d", "c", "m", "2024-01-05 10:00:00", "2", "0"),
            ("d", "c", "m", "2024-01-05 10:00:00", "2.0", "0"), ("u", "c", "m", "2024-01-05 10:00:00", "1", "0")]  # fmt: skip
    out = deduplicate(_annotated(spark, rows, EtlSection()), "quarantine_all").collect()
    classes = sorted((r.transaction_id, r[dedup.CLASS], r.reason) for r in out)
    assert classes == [
        ("d", dedup.EXACT, None),  # 2.0 == 2 after parsing: an identical copy
        ("d", dedup.CONFLICT, "conflicting_duplicate"),
        ("d", dedup.CONFLICT, "conflicting_duplicate"),
        ("u", dedup.KEEP, None),
    ]
    assert all("none kept (etl.conflicting_duplicates: quarantine_all)" in r.reason_detail
               for r in out if r.reason)  # fmt: skip


# ---- one writer per root; debris of killed runs ----------------------------------------------

_HOLDER = """
import sys
from fraud_app.etl.lock import RootLock
with RootLock(sys.argv[1], "holder-test"):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.mark.spark
def test_second_writer_is_refused_and_a_killed_holder_does_not_block(spark, tmp_path) -> None:
    src = _write(tmp_path / "in" / "a.csv", HEADER + "\n" + ROW.format(i=1) + "\n")
    cfg = _cfg(tmp_path, src)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "work")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConcurrentRunError) as err:
            run_etl(spark, cfg)
        message = str(err.value)
        assert "\n" not in message
        assert f"holder-test (pid {holder.pid} on host {socket.gethostname()}" in message
        assert f"delete {tmp_path / 'work' / LOCK_NAME} if that run no longer exists" in message
    finally:
        holder.kill()  # like kill -9: the lock file stays behind
        holder.wait()
    assert (tmp_path / "work" / LOCK_NAME).exists()
    assert run_etl(spark, cfg).output_rows == 1  # the dead holder's lock is stale
    assert not (tmp_path / "work" / LOCK_NAME).exists()


def test_lock_is_reentrant_and_refuses_another_host(tmp_path) -> None:
    with RootLock(str(tmp_path), "outer"), RootLock(str(tmp_path), "inner"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "outer"
    assert not (tmp_path / LOCK_NAME).exists()
    other = {
        "pid": 1,
        "host": "another-host",
        "command": "train",
        "started_at": "2024-01-01T00:00:00+00:00",
    }
    (tmp_path / LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(ConcurrentRunError, match=r"train \(pid 1 on host another-host"):
        RootLock(str(tmp_path), "etl").__enter__()
    assert (tmp_path / LOCK_NAME).exists()  # not ours to remove


@pytest.mark.spark
def test_debris_of_killed_runs_is_removed_and_an_interrupted_swap_restored(spark, tmp_path) -> None:
    work = tmp_path / "work"
    for debris in (
        "canonical.tmp-dead",
        "canonical.tmp-dead-stage",
        "quarantine.tmp-dead",
        "canonical.old-dead",
    ):
        _write(work / debris / "part-0.parquet", b"x" * 10)
    _write(work / "quarantine.old-dead" / "part-0.parquet", b"previous output")
    _write(work / "canonical" / "part-0.parquet", b"current output")
    fs = HadoopFs(spark)
    clean_stale_staging(fs, str(work / "quarantine"))
    clean_stale_staging(fs, str(work / "canonical"))
    # a run killed between its renames left no quarantine/ and the previous one in .old-
    assert (work / "quarantine" / "part-0.parquet").read_bytes() == b"previous output"
    assert (work / "canonical" / "part-0.parquet").read_bytes() == b"current output"
    assert sorted(p.name for p in work.iterdir()) == ["canonical", "quarantine"]


@pytest.mark.spark
def test_run_etl_cleans_debris_before_writing(spark, tmp_path) -> None:
    src = _write(tmp_path / "in" / "a.csv", HEADER + "\n" + ROW.format(i=1) + "\n")
    _write(tmp_path / "work" / "canonical.tmp-dead-stage" / "part-0.parquet", b"x" * 1000)
    run_etl(spark, _cfg(tmp_path, src))
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["canonical", "quarantine"]


# ---- config errors name the key -------------------------------------------------------------


@pytest.mark.parametrize(
    "override, match",
    [
        (
            {"etl.encoding": "klingon-8"},
            r"etl\.encoding 'klingon-8' is not a known character encoding",
        ),
        (
            {"etl.bounds": {"min_amount": 10, "max_amount": 1}},
            r"etl\.bounds\.min_amount \(10\.0\) must be <= max_amount",
        ),
        ({"etl.bounds": {"max_amount": "inf"}}, r"max_amount: Input should be a finite number"),
        (
            {"etl.bounds": {"min_timestamp": "2100-01-01T00:00:00"}},
            r"min_timestamp .* must be before",
        ),
        ({"etl.conflicting_duplicates": "keep_latest"}, r"etl\.conflicting_duplicates"),
    ],
)
def test_bad_etl_config_is_one_clear_error(override, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, override)


def test_reason_codes_are_documented_in_the_readme() -> None:
    from fraud_app.etl.rules import REASON_CODES

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## What happens to bad input") :]
    missing = [code for code in REASON_CODES if f"`{code}`" not in section]
    assert not missing, f"README 'What happens to bad input' lacks {missing}"


# ---- a second delivery: the table is replaced, and the dates it loses are named ---------


@pytest.mark.spark
def test_a_run_on_new_days_only_names_the_dates_it_removes(spark, tmp_path, caplog) -> None:
    # A daily delivery pointed at etl.input alone replaced the canonical table: the earlier
    # days vanished from training and scoring history without a word.
    day = "t{i},c1,m1,2024-01-0{d} 10:00:00,{i}.5,0"
    first = _write(tmp_path / "d1" / "a.csv", HEADER + "\n" + "\n".join(
        day.format(i=i, d=1 + i % 2) for i in range(4)) + "\n")  # fmt: skip
    second = _write(tmp_path / "d2" / "b.csv", HEADER + "\n" + day.format(i=9, d=3) + "\n")
    assert run_etl(spark, _cfg(tmp_path, first)).dropped_dates == ()

    with caplog.at_level("WARNING", logger="fraud_app.etl.pipeline"):
        r = run_etl(spark, _cfg(tmp_path, second))

    assert r.dropped_dates == ("2024-01-01", "2024-01-02")
    assert "2 date(s) it held are not in this input and were removed (2024-01-01, 2024-01-02)" in (
        caplog.text
    )
    report = json.loads(Path(r.report_path).read_text())
    assert report["dropped_dates"] == ["2024-01-01", "2024-01-02"]
    # every delivery under etl.input: nothing dropped, the re-delivered record counted once
    both = tmp_path / "all"
    for f in (first, second, second):
        _write(both / f"{f.parent.name}-{len(list(both.glob('*')))}.csv", f.read_bytes())
    r = run_etl(spark, _cfg(tmp_path, both))
    assert (r.output_rows, r.duplicate_rows, r.dropped_dates) == (5, 1, ())


@pytest.mark.spark
def test_append_mode_adds_a_delivery_and_never_replaces_a_published_row(spark, tmp_path) -> None:
    day = "t{i},c1,m1,2024-01-0{d} 10:00:00,{a},0"
    first = [day.format(i=i, d=1 + i % 2, a=f"{i}.5") for i in range(4)]
    second = [
        day.format(i=9, d=3, a="9.5"),  # a new day
        first[0],  # re-delivered as it was: a duplicate
        day.format(i=1, d=2, a="7.25"),  # re-delivered with another amount: a conflict
        day.format(i=8, d=3, a="x"),  # bad
    ]
    bad = day.format(i=7, d=1, a="y")
    d1 = _write(tmp_path / "d1" / "a.csv", "\n".join([HEADER, *first, bad]) + "\n")
    d2 = _write(tmp_path / "d2" / "b.csv", "\n".join([HEADER, *second]) + "\n")
    r1 = run_etl(spark, _cfg(tmp_path, d1, mode="append"))  # no table yet: as replace
    assert (r1.output_rows, r1.quarantine_rows, r1.previous_rows) == (4, 1, 0)

    r = run_etl(spark, _cfg(tmp_path, d2, mode="append"))

    assert (r.input_rows, r.previous_rows, r.output_rows) == (4, 4, 5)
    assert (r.duplicate_rows, r.quarantine_rows, r.dropped_dates) == (1, 2, ())
    assert r.quarantine_by_reason == {"conflicting_duplicate": 1, "non_numeric_amount": 1}
    table = {row.transaction_id: row.amount for row in spark.read.parquet(r.output_path).collect()}
    assert table == {"t0": 0.5, "t1": 1.5, "t2": 2.5, "t3": 3.5, "t9": 9.5}  # t1 as published
    quarantine = spark.read.parquet(r.quarantine_path).toPandas().set_index("raw_transaction_id")
    assert sorted(quarantine.index) == ["t1", "t7", "t8"]  # the first run's bad row stays
    detail = quarantine.loc["t1", "reason_detail"]
    assert "'t1' is already in the canonical table with other values" in detail
    assert "differs in: amount; kept (published before): amount=1.5" in detail
    assert json.loads(Path(r.report_path).read_text())["previous_rows"] == 4


@pytest.mark.spark
def test_a_timestamp_in_the_future_is_quarantined(spark, tmp_path) -> None:
    # a device clock years ahead passed ETL (the bound was 2100) and moved the default
    # split windows to that year: `train` then failed on an empty validation window
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamps = {"soon": now + dt.timedelta(hours=1), "later": now + dt.timedelta(days=400),
              "past": dt.datetime(2024, 1, 5, 10)}  # fmt: skip
    src = _write(tmp_path / "in.csv", HEADER + "\n" + "".join(
        f"{k},c1,m1,{t:%Y-%m-%d %H:%M:%S},1.5,0\n" for k, t in stamps.items()))  # fmt: skip
    r = run_etl(spark, _cfg(tmp_path, src))
    assert (r.output_rows, r.quarantine_by_reason) == (2, {"timestamp_in_future": 1})
    (q,) = spark.read.parquet(r.quarantine_path).collect()
    assert q.raw_transaction_id == "later"
    assert re.search(
        r"is after \S+ \S+ UTC: the ETL run's clock \(\S+ \S+ UTC\) \+ 24 h "
        r"\(etl.bounds.max_future_hours\)",
        q.reason_detail,
    ), q.reason_detail
    off = run_etl(spark, _cfg(tmp_path, src, bounds={"max_future_hours": None}))
    assert (off.output_rows, off.quarantine_rows) == (3, 0)
