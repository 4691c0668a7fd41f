"""Property test: for any mix of good and bad raw rows, each row gets the reason a plain
Python oracle expects, and input = output + quarantine + duplicates.

Spark is slow per job, so each example is one DataFrame of many rows and there are
few examples."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_app.etl import dedup
from fraud_app.etl.config import EtlSection
from fraud_app.etl.pipeline import annotate_rows, deduplicate, quarantine_rows, valid_rows

pytestmark = pytest.mark.spark

FMT = "%Y-%m-%d %H:%M:%S"
COLUMNS = (
    "transaction_id",
    "card_id",
    "merchant_id",
    "timestamp",
    "amount",
    "label",
    "label_time",
    "channel",
)
POOLS = {
    "transaction_id": st.sampled_from(["a", "b", "c", "d", "", " ", None]),
    "card_id": st.sampled_from(["c1", "c2", "", None]),
    "merchant_id": st.sampled_from(["m1", None]),
    "timestamp": st.sampled_from(
        ["2024-01-05 10:00:00", "2024-01-06 23:59:59", "bad", "2024-13-01 00:00:00", "", None]
    ),
    "amount": st.one_of(
        st.sampled_from(["1.5", " 3 ", "-2", "0", "NaN", "Infinity", "x", "1,5", "", None]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    ),
    "label": st.sampled_from(["0", "1", "1.0", "true", "no", "2", "x", "", None, "NULL"]),
    "label_time": st.sampled_from([None, "", "2024-02-01 00:30:00", "2024-01-01 00:30:00", "zzz"]),
    "channel": st.sampled_from(["POS", "ecom", " ATM ", "MOBILE", "", None]),
}
ROWS = st.lists(st.fixed_dictionaries(POOLS), min_size=1, max_size=60)


def _blank(v: str | None) -> bool:
    return v is None or not v.strip()


def _ts(v: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(v.strip(), FMT) if not _blank(v) else None
    except ValueError:
        return None


def expected_reason(row: dict) -> str | None:
    """The rules of fraud_app.etl.rules, written out in Python for these value pools."""
    # the label may be empty (etl.allow_unlabelled: not known yet; also a null marker)
    required = ("transaction_id", "card_id", "timestamp", "amount")
    if any(_blank(row[c]) for c in required):
        return "missing_required_field"
    ts = _ts(row["timestamp"])
    if ts is None:
        return "unparseable_timestamp"
    try:
        amount = float(row["amount"].strip())
    except ValueError:
        return "non_numeric_amount"
    if amount != amount or abs(amount) == float("inf"):
        return "non_finite_amount"
    if amount < 0:  # etl.bounds default: zero-amount authorisations are accepted
        return "amount_below_minimum"
    if amount > 1e10:
        return "amount_above_maximum"
    label = "" if _blank(row["label"]) else row["label"].strip().lower()
    if label not in ("0", "1", "1.0", "true", "no", "", "null"):
        return "invalid_label"
    if label in ("", "null") and not _blank(row["label_time"]):
        return "label_time_without_label"
    if not _blank(row["channel"]) and row["channel"].strip().upper() not in ("POS", "ECOM", "ATM"):
        return "unknown_channel"
    if not _blank(row["label_time"]):
        label_time = _ts(row["label_time"])
        if label_time is None:
            return "unparseable_label_time"
        if label_time < ts:
            return "label_time_before_timestamp"
    return None


@settings(max_examples=6, deadline=None)
@given(rows=ROWS)
def test_reasons_match_the_oracle_and_counts_add_up(spark, rows: list[dict]) -> None:
    raw = spark.createDataFrame(
        [tuple(r[c] for c in COLUMNS) for r in rows], ", ".join(f"{c} string" for c in COLUMNS)
    )
    annotated = annotate_rows(
        raw, EtlSection(timestamp_format="yyyy-MM-dd HH:mm:ss"), "hypothesis rows"
    )
    valid = valid_rows(annotated).collect()
    quarantined = quarantine_rows(annotated, list(COLUMNS)).collect()
    classes = Counter(r[dedup.CLASS] for r in deduplicate(annotated).collect())

    expected = Counter((tuple(r[c] for c in COLUMNS), expected_reason(r)) for r in rows)
    got = Counter((tuple(q[f"raw_{c}"] for c in COLUMNS), q["reason"]) for q in quarantined)
    assert got == Counter({k: n for k, n in expected.items() if k[1] is not None})
    assert len(valid) == sum(n for k, n in expected.items() if k[1] is None)
    assert classes[dedup.KEEP] == len({v["transaction_id"] for v in valid})  # one per id
    assert len(rows) == sum(classes.values()) + len(quarantined)


# ---- whole runs over generated input files ---------------------------------------------------

FILE_COLUMNS = (
    "transaction_id",
    "card_id",
    "merchant_id",
    "timestamp",
    "amount",
    "label",
    "reason",
)
BAD = "\x00bad\x00"  # stands for bytes that are not valid UTF-8 (written as b"\xff\xfe")
# ids and values with separators, quotes, line breaks and non-ASCII characters inside
TEXT = st.text(alphabet='ab,"\né ', max_size=4).map(lambda s: f"x{s}y")
FILE_POOLS = {
    "transaction_id": st.sampled_from(["t0", "t1", "t2", "t3", 'q"1', "é,2", "n\n3"]),
    "card_id": TEXT,
    "merchant_id": st.one_of(TEXT, TEXT.map(lambda s: s + BAD)),
    "timestamp": st.sampled_from(
        ["2024-01-05 10:00:00", "2024-01-06 11:00:00", "0000-01-01 00:00:00", "bad"]
    ),
    "amount": st.sampled_from(["1.5", "0", "-2", "1e308", "abc", "12.50", "7"]),
    "label": st.sampled_from(["0", "1", "x"]),
    "reason": TEXT,  # an input column named like the quarantine's own column
}


@st.composite
def input_files(draw):
    encoding = draw(st.sampled_from(["UTF-8", "ISO-8859-1"]))
    records = []
    for _ in range(draw(st.integers(1, 25))):
        if records and draw(st.integers(0, 4)) == 0:
            records.append(dict(draw(st.sampled_from(records))))  # an identical copy
        else:
            records.append(draw(st.fixed_dictionaries(FILE_POOLS)))
    if encoding != "UTF-8":  # every byte is a valid ISO-8859-1 character
        records = [{k: v.replace(BAD, "") for k, v in r.items()} for r in records]
    n_files = draw(st.integers(1, min(3, len(records))))
    cuts = sorted(draw(st.lists(st.integers(1, len(records) - 1), min_size=n_files - 1, max_size=n_files - 1, unique=True))) if n_files > 1 else []  # fmt: skip
    files = []
    for part in (records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)):
        order = draw(st.permutations(FILE_COLUMNS))
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        files.append((order, newline, part))
    return encoding, records, files


def _write_files(directory, encoding: str, files) -> None:
    import csv
    import io

    directory.mkdir(parents=True)
    for i, (order, newline, part) in enumerate(files):
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=order, lineterminator=newline)
        w.writeheader()
        w.writerows(part)
        data = text.getvalue().encode(encoding).replace(BAD.encode(encoding), b"\xff\xfe")
        (directory / f"part-{i}.csv").write_bytes(data)


@pytest.mark.slow
@settings(max_examples=3, deadline=None)
@given(case=input_files())
def test_generated_files_are_read_by_name_and_every_record_accounted_for(
    spark, tmp_path_factory, case
) -> None:
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.etl.rules import REASON_CODES

    encoding, records, files = case
    tmp = tmp_path_factory.mktemp("files")
    _write_files(tmp / "in", encoding, files)
    etl = {
        "input": str(tmp / "in"),
        "encoding": encoding,
        "timestamp_format": "yyyy-MM-dd HH:mm:ss",
    }
    r = run_etl(spark, load_config(None, {"paths.root": str(tmp / "work"), "etl": etl}))
    out = spark.read.parquet(r.output_path).collect() if r.output_rows else []
    q = spark.read.parquet(r.quarantine_path).collect()

    assert r.input_rows == len(records)  # records, not lines
    assert r.input_rows == r.output_rows + r.quarantine_rows + r.duplicate_rows
    assert (len(out), len(q)) == (r.output_rows, r.quarantine_rows)
    assert all(row.reason in REASON_CODES and row.reason_detail for row in q)
    # every output row is one source record as written: no swapped column, no substitution
    source = {(s["transaction_id"], s["card_id"], s["merchant_id"], float(s["amount"]) if _num(s["amount"]) else None)
              for s in records}  # fmt: skip
    for row in out:
        assert (row.transaction_id, row.card_id, row.merchant_id, row.amount) in source
        assert "\ufffd" not in row.merchant_id
    assert len({row.transaction_id for row in out}) == len(out)
    # every quarantined record's raw columns are one source record's, by name
    raw = {tuple(s[c] for c in FILE_COLUMNS) for s in records}
    for row in q:
        values = tuple(row[f"raw_{c}"] for c in FILE_COLUMNS)
        if row.reason == "invalid_encoding":
            assert "\ufffd" in row.raw_merchant_id
        else:
            assert values in raw, values
    bad = sum(1 for s in records if BAD in s["merchant_id"])
    assert r.quarantine_by_reason.get("invalid_encoding", 0) == bad


def _num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
