"""ETL: every bad row ends in the quarantine with the right reason, counts add up,
clear errors for unusable input, and a re-run gives the same output."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError, EmptyInputError, SchemaError
from fraud_app.etl.pipeline import run_etl
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

pytestmark = pytest.mark.spark

# the user's names for the canonical columns; optional ones left out on purpose
MAPPING = {
    "transaction_id": "id",
    "card_id": "card",
    "merchant_id": "shop",
    "timestamp": "when",
    "amount": "value",
    "label": "fraud",
    "label_time": "confirmed",
    "channel": "chan",
}
# unmapped raw columns named like the quarantine's own columns must not collide with them
HEADER = [*MAPPING.values(), "reason", "reason_detail"]
OK = {"card": "c1", "shop": "m1", "when": "2024-01-05 10:00:00", "value": "12.50", "fraud": "0",
      "confirmed": "2024-02-05 10:00:00", "chan": "POS", "reason": "raw r", "reason_detail": "raw d"}  # fmt: skip
BAD_BYTES = "@@bad-bytes@@"  # replaced by bytes that are not valid UTF-8 when written

# (transaction id, overrides of the OK row, expected reason; None = clean)
CASES: list[tuple[str, dict, str | None]] = [
    ("ok1", {}, None),
    ("ok_lower_channel", {"chan": "ecom"}, None),
    ("ok_no_channel", {"chan": ""}, None),
    ("ok_true_label", {"fraud": "true"}, None),
    ("ok_float_label", {"fraud": "1.0"}, None),
    ("ok_no_label_time", {"confirmed": ""}, None),
    ("ok_spaces", {"value": " 7.5 ", "card": " c2 "}, None),
    ("", {}, "missing_required_field"),
    ("no_card", {"card": ""}, "missing_required_field"),
    ("ok_no_shop", {"shop": "  "}, None),  # merchant_id is optional: null when blank
    ("no_amount", {"value": ""}, "missing_required_field"),
    ("no_time", {"when": ""}, "missing_required_field"),
    ("ok_no_label", {"fraud": "", "confirmed": ""}, None),  # not known yet: unlabelled
    ("no_label", {"fraud": ""}, "label_time_without_label"),
    ("ts_text", {"when": "not a date"}, "unparseable_timestamp"),
    ("ts_impossible", {"when": "2024-02-30 25:61:00"}, "unparseable_timestamp"),
    ("ts_other_format", {"when": "05/01/2024 10:00"}, "unparseable_timestamp"),
    ("amt_text", {"value": "abc"}, "non_numeric_amount"),
    ("amt_comma", {"value": "12,50"}, "non_numeric_amount"),
    ("amt_nan", {"value": "NaN"}, "non_finite_amount"),
    ("amt_inf", {"value": "Infinity"}, "non_finite_amount"),
    ("amt_neg_inf", {"value": "-inf"}, "non_finite_amount"),
    ("amt_negative", {"value": "-3.20"}, "amount_below_minimum"),
    ("ok_amt_zero", {"value": "0"}, None),  # zero-amount authorisations are normal
    ("amt_absurd", {"value": "1e308"}, "amount_above_maximum"),
    ("amt_overflow", {"value": "1e309"}, "non_finite_amount"),
    ("ts_year_zero", {"when": "0000-01-01 00:00:00"}, "timestamp_out_of_range"),
    ("ts_far_future", {"when": "2999-01-01 00:00:00", "confirmed": ""}, "timestamp_out_of_range"),
    ("lt_far_future", {"confirmed": "9999-12-31 00:00:00"}, "label_time_out_of_range"),
    ("bad_bytes", {"shop": "M0001" + BAD_BYTES}, "invalid_encoding"),
    ("bad_bytes_unmapped", {"reason": BAD_BYTES}, "invalid_encoding"),
    # RFC 4180: quoted fields holding the separator, quotes and line breaks are one record
    ("ok_multiline", {"shop": "m1\nsecond line", "reason": "a\r\nb"}, None),
    ("ok_quotes", {"shop": 'say "hi", ok'}, None),
    ("label_two", {"fraud": "2"}, "invalid_label"),
    ("label_half", {"fraud": "0.5"}, "invalid_label"),
    ("label_text", {"fraud": "fraud"}, "invalid_label"),
    ("chan_unknown", {"chan": "MOBILE"}, "unknown_channel"),
    ("lt_text", {"confirmed": "soon"}, "unparseable_label_time"),
    ("lt_before", {"confirmed": "2024-01-04 10:00:00"}, "label_time_before_timestamp"),
    # first broken rule wins: missing card AND a bad amount -> missing_required_field
    ("two_problems", {"card": "", "value": "abc"}, "missing_required_field"),
    # identical copies (12.50 == 12.5 after parsing; raw-only columns do not count): one
    # kept, the others counted as duplicates
    ("dup_exact", {}, None),
    ("dup_exact", {"value": "12.5", "reason": "other"}, "<exact duplicate>"),
    # conflicting copies: the earliest is kept, ties broken by the other columns; the
    # other versions are quarantined
    ("dup", {"when": "2024-01-05 10:00:05", "value": "3"}, "conflicting_duplicate"),
    ("dup", {"when": "2024-01-05 10:00:01", "value": "2"}, "conflicting_duplicate"),
    ("dup", {"when": "2024-01-05 10:00:01", "value": "1"}, None),
    ("dup_label", {"fraud": "1"}, None),  # a copy reporting fraud wins a tie
    ("dup_label", {}, "conflicting_duplicate"),
    # a broken copy of a clean id is quarantined, not counted as a duplicate
    ("dup_bad", {}, None),
    ("dup_bad", {"value": "-1"}, "amount_below_minimum"),
]
EXACT = "<exact duplicate>"


def _write_csv(path: Path, rows: list[dict], header: list[str] = HEADER, extra_lines=()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=header)
    w.writeheader()
    w.writerows(rows)
    for line in extra_lines:
        text.write(line + "\n")
    path.write_bytes(text.getvalue().encode("utf-8").replace(BAD_BYTES.encode(), b"\xff\xfe"))
    return path


def _config(tmp_path: Path, input_path: Path, **etl) -> AppConfig:
    etl = {"columns": MAPPING, "timestamp_format": "yyyy-MM-dd HH:mm:ss", **etl}
    return load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(input_path), **etl}}
    )


@pytest.fixture(scope="module")
def table_run(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("etl_cases")
    rows = [{**OK, "id": tid, **over} for tid, over, _ in CASES]
    # two files, the second with its columns in reverse order: read by name, not position
    # one line with too many fields: the CSV parser cannot map it to the columns
    _write_csv(
        tmp / "in" / "a.csv",
        rows[::2],
        extra_lines=["bad1,c,m,2024-01-05 10:00:00,1,0,,POS,x,y,z,w"],
    )
    src = _write_csv(tmp / "in" / "b.csv", rows[1::2], header=HEADER[::-1])
    cfg = _config(tmp, src.parent)
    result = run_etl(spark, cfg)
    quarantine = spark.read.parquet(result.quarantine_path).toPandas()
    output = spark.read.parquet(result.output_path).toPandas()
    return cfg, result, quarantine, output


def test_each_bad_row_has_its_reason(table_run) -> None:
    _, result, quarantine, _ = table_run
    got = Counter((r.raw_id or "", r.reason) for r in quarantine.itertuples())
    expected = Counter((tid, reason) for tid, _, reason in CASES if reason and reason != EXACT)
    assert got == expected + Counter({("bad1", "malformed_record"): 1})
    assert result.quarantine_by_reason["malformed_record"] == 1
    assert result.quarantine_by_reason == dict(Counter(reason for _, reason in got.elements()))


def test_output_values_equal_the_source_records(table_run) -> None:
    _, _, _, out = table_run
    by_id = out.set_index("transaction_id")
    assert by_id.loc["ok_multiline", "merchant_id"] == "m1\nsecond line"
    assert by_id.loc["ok_quotes", "merchant_id"] == 'say "hi", ok'
    for tid, over, reason in CASES:  # no swapped columns: every clean row's ids as written
        if reason is None and tid not in ("dup", "ok_spaces", "ok_no_shop"):
            row = {**OK, **over}
            assert (by_id.loc[tid, "card_id"], by_id.loc[tid, "merchant_id"]) == (
                row["card"],
                row["shop"],
            ), tid
            assert by_id.loc[tid, "amount"] == float(row["value"]), tid
    assert not out.merchant_id.dropna().str.contains("\ufffd").any()
    assert by_id.loc["ok_no_shop", "merchant_id"] is None  # optional: blank -> null
    assert by_id.loc["dup_label", "label"] == 1  # earliest, then fraud first


def test_conflicting_duplicates_name_both_versions(table_run) -> None:
    _, result, q, _ = table_run
    dup = q[q.raw_id == "dup"].set_index("raw_value")
    assert set(dup.index) == {"3", "2"}
    assert "3 different versions" in dup.loc["2", "reason_detail"]
    assert "differs from the kept (earliest) version in: amount" in dup.loc["2", "reason_detail"]
    assert "kept in the canonical table: amount=1.0" in dup.loc["2", "reason_detail"]
    assert "timestamp=2024-01-05 10:00:01" in dup.loc["3", "reason_detail"]
    assert result.conflict_examples == ("dup", "dup_label")


def test_encoding_and_files_are_named_in_the_quarantine(table_run) -> None:
    _, _, q, _ = table_run
    by_id = q.set_index("raw_id", drop=False)
    detail = by_id.loc["bad_bytes", "reason_detail"]
    assert detail == "bytes that are not valid UTF-8 (etl.encoding) in column(s): shop"
    assert by_id.loc["bad_bytes_unmapped", "reason_detail"].endswith("column(s): reason")
    assert by_id.loc["bad_bytes", "source_file"].endswith(("a.csv", "b.csv"))


def test_counts_add_up(table_run) -> None:
    _, r, quarantine, output = table_run
    n_bad = sum(1 for *_, reason in CASES if reason not in (None, EXACT)) + 1  # + malformed
    assert r.input_rows == len(CASES) + 1
    assert (r.quarantine_rows, r.duplicate_rows) == (n_bad, 1)
    assert r.input_rows == r.output_rows + r.quarantine_rows + r.duplicate_rows
    assert r.output_rows == len(output) and r.quarantine_rows == len(quarantine)
    assert sum(r.quarantine_by_reason.values()) == r.quarantine_rows
    assert r.duplicate_examples == ("dup_exact",)


def test_quarantine_keeps_the_raw_text_and_explains(table_run) -> None:
    _, _, q, _ = table_run
    by_id = q.set_index("raw_id", drop=False)
    assert by_id.loc["amt_comma", "raw_value"] == "12,50"
    assert by_id.loc["ts_text", "raw_when"] == "not a date"
    assert by_id.loc["ts_text", "raw_reason"] == "raw r"  # the input's own `reason` column
    assert "'not a date'" in by_id.loc["ts_text", "reason_detail"]
    assert by_id.loc["no_card", "reason_detail"] == "missing required field(s): card_id"
    assert "2" in by_id.loc["label_two", "reason_detail"]
    assert "etl.bounds.max_amount" in by_id.loc["amt_absurd", "reason_detail"]
    assert "etl.bounds.min_timestamp" in by_id.loc["ts_year_zero", "reason_detail"]
    assert list(q.columns) == [*(f"raw_{c}" for c in HEADER), "raw__corrupt_record", "reason",
                               "reason_detail", "source_file"]  # fmt: skip


def test_output_is_typed_canonical_and_deduplicated(table_run, spark) -> None:
    _, r, _, out = table_run
    df = spark.read.parquet(r.output_path)
    types = dict(df.dtypes)
    for col in CANONICAL_COLUMNS:
        assert types[col.name] == {"int": "int"}.get(col.spark_type, col.spark_type), col.name
    assert types[PARTITION_COLUMN] == "date"
    assert out.transaction_id.is_unique
    dup = out.set_index("transaction_id").loc["dup"]
    assert (dup.amount, dup.timestamp) == (1.0, dt.datetime(2024, 1, 5, 10, 0, 1))
    ok = out.set_index("transaction_id")
    assert ok.loc["ok_lower_channel", "channel"] == "ECOM" and ok.loc["ok_true_label", "label"] == 1
    assert ok.loc["ok_spaces", "card_id"] == "c2" and ok.loc["ok_spaces", "amount"] == 7.5
    assert ok.loc["ok_amt_zero", "amount"] == 0.0
    assert out.country.isna().all()  # optional column absent from the input


def test_rerun_gives_the_same_output(table_run, spark, tmp_path) -> None:
    cfg, first, q1, out1 = table_run
    second = run_etl(spark, cfg)
    out2 = spark.read.parquet(second.output_path).toPandas()
    q2 = spark.read.parquet(second.quarantine_path).toPandas()
    key = ["transaction_id", "timestamp"]
    assert (
        out1.sort_values(key)
        .reset_index(drop=True)
        .equals(out2.sort_values(key).reset_index(drop=True))
    )
    assert sorted(map(tuple, q1.astype(str).values)) == sorted(map(tuple, q2.astype(str).values))
    assert {k: v for k, v in first.to_dict().items() if k != "seconds"} == {
        k: v for k, v in second.to_dict().items() if k != "seconds"
    }
    report = json.loads(Path(second.report_path).read_text())
    assert report["input_rows"] == second.input_rows and report["quarantine_by_reason"]
    siblings = {p.name for p in Path(second.output_path).parent.iterdir()}
    assert siblings == {"canonical", "quarantine"}  # no temp or staging dirs left behind


# ---- other formats and typed input ------------------------------------------------------


def test_parquet_input_with_native_types(spark, tmp_path) -> None:
    rows = [
        ("p1", "c", "m", dt.datetime(2024, 1, 1, 8), 5.0, 0, "POS"),
        ("p2", "c", "m", dt.datetime(2024, 1, 2, 8), float("nan"), 0, "POS"),
        ("p3", "c", "m", dt.datetime(2024, 1, 3, 8), -1.0, 1, "ATM"),
        ("p4", "c", "m", None, 2.0, 1, "ATM"),
        ("p5", "c", "m", dt.datetime(2024, 1, 3, 8), 2.0, 7, "ECOM"),
    ]
    schema = "transaction_id string, card_id string, merchant_id string, timestamp timestamp, amount double, label int, channel string"
    spark.createDataFrame(rows, schema).write.parquet(str(tmp_path / "in.parquet"))
    cfg = load_config(
        None, {"paths.root": str(tmp_path / "w"), "etl.input": str(tmp_path / "in.parquet")}
    )
    r = run_etl(spark, cfg)
    assert r.input_format == "parquet"
    assert r.quarantine_by_reason == {
        "non_finite_amount": 1, "amount_below_minimum": 1, "missing_required_field": 1, "invalid_label": 1,
    }  # fmt: skip
    q = spark.read.parquet(r.quarantine_path).toPandas().set_index("raw_transaction_id")
    assert q.loc["p2", "raw_amount"] == "NaN" and q.loc["p3", "raw_amount"] == "-1.0"
    assert r.output_rows == 1


def test_json_input_and_epoch_timestamps(spark, tmp_path) -> None:
    src = tmp_path / "in.json"
    src.write_text(
        '{"tid": "j1", "card": "c", "m": "x", "t": 1704067200, "amt": 3.5, "y": 0}\n'
        '{"tid": "j2", "card": "c", "m": "x", "t": "yesterday", "amt": "3.5", "y": 1}\n'
        "{this is not json\n"
    )
    cols = {
        "transaction_id": "tid",
        "card_id": "card",
        "merchant_id": "m",
        "timestamp": "t",
        "amount": "amt",
        "label": "y",
    }
    cfg = load_config(
        None,
        {
            "paths.root": str(tmp_path / "w"),
            "etl": {"input": str(src), "columns": cols, "timestamp_format": "epoch_seconds"},
        },
    )
    r = run_etl(spark, cfg)
    assert r.input_format == "json" and r.output_rows == 1
    assert r.quarantine_by_reason == {"unparseable_timestamp": 1, "malformed_record": 1}
    out = spark.read.parquet(r.output_path).first()
    assert out["timestamp"] == dt.datetime(2024, 1, 1) and out[PARTITION_COLUMN] == dt.date(
        2024, 1, 1
    )


# ---- errors -------------------------------------------------------------------------------


def test_missing_required_columns_name_the_columns(spark, tmp_path) -> None:
    src = _write_csv(tmp_path / "in.csv", [{"id": "a", "card": "c"}], header=["id", "card"])
    with pytest.raises(
        SchemaError, match=r"timestamp \(looked for 'when'\), amount \(looked for 'value'\)\. "
    ):  # not the label: etl.allow_unlabelled (test_unlabelled)
        run_etl(spark, _config(tmp_path, src))


def test_unusable_column_type_is_a_schema_error(spark, tmp_path) -> None:
    df = spark.createDataFrame(
        [("a", "c", "m", "2024-01-01 00:00:00", [1.0], 0)],
        "transaction_id string, card_id string, merchant_id string, timestamp string, amount array<double>, label int",
    )
    df.write.parquet(str(tmp_path / "arr"))
    cfg = load_config(None, {"paths.root": str(tmp_path / "w"), "etl.input": str(tmp_path / "arr")})
    with pytest.raises(SchemaError, match=r"amount <- 'amount' has type array<double>"):
        run_etl(spark, cfg)


@pytest.mark.parametrize(
    "kind", ["header_only", "missing_path", "empty_dir", "empty_dir_no_format"]
)
def test_empty_input_is_a_clear_error(spark, tmp_path, kind) -> None:
    src = tmp_path / "in"
    if kind == "header_only":
        _write_csv(src / "a.csv", [])
    elif kind.startswith("empty_dir"):
        src.mkdir()
    with pytest.raises(EmptyInputError, match=str(src)) as err:
        run_etl(spark, _config(tmp_path, src, format="csv" if kind == "empty_dir" else None))
    assert not (tmp_path / "work" / "canonical").exists()
    if kind == "header_only":  # it said only "holds no rows"
        assert str(err.value).endswith(
            "holds no rows: its files hold no records (a CSV header line only, or empty JSON / "
            "Parquet files). Expected at least one transaction; check the delivery"
        )
    if kind.startswith("empty_dir"):  # "holds no data files" / "the files are empty"
        assert "holds no data files (the folder is empty). Expected the delivery's CSV" in str(
            err.value
        )


def test_empty_csv_files_say_what_was_expected(spark, tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_bytes(b"")
    with pytest.raises(EmptyInputError, match=r"has no header line in any file: the files are "
                       r"empty\. Expected CSV files whose first line names the columns"):  # fmt: skip
        run_etl(spark, _config(tmp_path, src))


def test_unknown_format_asks_for_etl_format(spark, tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"etl\.format"):
        run_etl(spark, _config(tmp_path, tmp_path / "in"))


@pytest.mark.parametrize(
    "override, match",
    [
        ({"etl.columns": {"amout": "x"}}, r"unknown: 'amout' \(did you mean 'amount'\?\)"),
        ({"etl.columns": {"amount": "x", "label": "x"}}, r"same source \['x'\]"),
        ({"etl.format": "xlsx"}, r"etl\.format"),
        ({"etl.inputs": "x"}, r"etl\.inputs"),
    ],
)
def test_bad_etl_config_names_the_key(override, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, override)
