"""ETL: every bad row ends in the quarantine with the right reason, counts add up,
clear errors for unusable input, and a re-run gives the same output."""

from __future__ import annotations

import csv
import datetime as dt
import json
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
HEADER = list(MAPPING.values())
OK = {"card": "c1", "shop": "m1", "when": "2024-01-05 10:00:00", "value": "12.50", "fraud": "0",
      "confirmed": "2024-02-05 10:00:00", "chan": "POS"}  # fmt: skip

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
    ("no_shop", {"shop": "  "}, "missing_required_field"),
    ("no_amount", {"value": ""}, "missing_required_field"),
    ("no_time", {"when": ""}, "missing_required_field"),
    ("no_label", {"fraud": ""}, "missing_required_field"),
    ("ts_text", {"when": "not a date"}, "unparseable_timestamp"),
    ("ts_impossible", {"when": "2024-02-30 25:61:00"}, "unparseable_timestamp"),
    ("ts_other_format", {"when": "05/01/2024 10:00"}, "unparseable_timestamp"),
    ("amt_text", {"value": "abc"}, "non_numeric_amount"),
    ("amt_comma", {"value": "12,50"}, "non_numeric_amount"),
    ("amt_nan", {"value": "NaN"}, "non_finite_amount"),
    ("amt_inf", {"value": "Infinity"}, "non_finite_amount"),
    ("amt_neg_inf", {"value": "-inf"}, "non_finite_amount"),
    ("amt_negative", {"value": "-3.20"}, "non_positive_amount"),
    ("amt_zero", {"value": "0"}, "non_positive_amount"),
    ("label_two", {"fraud": "2"}, "invalid_label"),
    ("label_half", {"fraud": "0.5"}, "invalid_label"),
    ("label_text", {"fraud": "fraud"}, "invalid_label"),
    ("chan_unknown", {"chan": "MOBILE"}, "unknown_channel"),
    ("lt_text", {"confirmed": "soon"}, "unparseable_label_time"),
    ("lt_before", {"confirmed": "2024-01-04 10:00:00"}, "label_time_before_timestamp"),
    # first broken rule wins: missing card AND a bad amount -> missing_required_field
    ("two_problems", {"card": "", "value": "abc"}, "missing_required_field"),
    # duplicates: the earliest copy is kept, ties broken by the other columns
    ("dup", {"when": "2024-01-05 10:00:05", "value": "3"}, None),
    ("dup", {"when": "2024-01-05 10:00:01", "value": "2"}, None),
    ("dup", {"when": "2024-01-05 10:00:01", "value": "1"}, None),
    # a broken copy of a clean id is quarantined, not counted as a duplicate
    ("dup_bad", {}, None),
    ("dup_bad", {"value": "-1"}, "non_positive_amount"),
]


def _write_csv(path: Path, rows: list[dict], header: list[str] = HEADER, extra_lines=()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
        for line in extra_lines:
            f.write(line + "\n")
    return path


def _config(tmp_path: Path, input_path: Path, **etl) -> AppConfig:
    etl = {"columns": MAPPING, "timestamp_format": "yyyy-MM-dd HH:mm:ss", **etl}
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(input_path), **etl}})


@pytest.fixture(scope="module")
def table_run(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("etl_cases")
    rows = [{**OK, "id": tid, **over} for tid, over, _ in CASES]
    # one line with too many fields: the CSV parser cannot map it to the columns
    src = _write_csv(tmp / "in" / "tx.csv", rows, extra_lines=["bad1,c,m,2024-01-05 10:00:00,1,0,,POS,x,y"])
    cfg = _config(tmp, src.parent)
    result = run_etl(spark, cfg)
    quarantine = spark.read.parquet(result.quarantine_path).toPandas()
    output = spark.read.parquet(result.output_path).toPandas()
    return cfg, result, quarantine, output


def test_each_bad_row_has_its_reason(table_run) -> None:
    _, result, quarantine, _ = table_run
    got = {(r.id or "", r.reason) for r in quarantine.itertuples()}
    expected = {(tid, reason) for tid, _, reason in CASES if reason}
    assert got - {("bad1", "malformed_record")} == expected
    assert ("bad1", "malformed_record") in got
    assert result.quarantine_by_reason["malformed_record"] == 1


def test_counts_add_up(table_run) -> None:
    _, r, quarantine, output = table_run
    n_bad = sum(1 for *_, reason in CASES if reason) + 1  # + the malformed line
    assert r.input_rows == len(CASES) + 1
    assert (r.quarantine_rows, r.duplicate_rows) == (n_bad, 2)
    assert r.input_rows == r.output_rows + r.quarantine_rows + r.duplicate_rows
    assert r.output_rows == len(output) and r.quarantine_rows == len(quarantine)
    assert sum(r.quarantine_by_reason.values()) == r.quarantine_rows
    assert r.duplicate_examples == ("dup",)


def test_quarantine_keeps_the_raw_text_and_explains(table_run) -> None:
    _, _, q, _ = table_run
    by_id = q.set_index("id", drop=False)
    assert by_id.loc["amt_comma", "value"] == "12,50"
    assert by_id.loc["ts_text", "when"] == "not a date"
    assert "'not a date'" in by_id.loc["ts_text", "reason_detail"]
    assert by_id.loc["no_card", "reason_detail"] == "missing required field(s): card_id"
    assert "2" in by_id.loc["label_two", "reason_detail"]
    assert set(q.columns) >= {*HEADER, "reason", "reason_detail"}


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
    assert out.country.isna().all()  # optional column absent from the input


def test_rerun_gives_the_same_output(table_run, spark, tmp_path) -> None:
    cfg, first, q1, out1 = table_run
    second = run_etl(spark, cfg)
    out2 = spark.read.parquet(second.output_path).toPandas()
    q2 = spark.read.parquet(second.quarantine_path).toPandas()
    key = ["transaction_id", "timestamp"]
    assert out1.sort_values(key).reset_index(drop=True).equals(out2.sort_values(key).reset_index(drop=True))
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
    cfg = load_config(None, {"paths.root": str(tmp_path / "w"), "etl.input": str(tmp_path / "in.parquet")})
    r = run_etl(spark, cfg)
    assert r.input_format == "parquet"
    assert r.quarantine_by_reason == {
        "non_finite_amount": 1, "non_positive_amount": 1, "missing_required_field": 1, "invalid_label": 1,
    }  # fmt: skip
    q = spark.read.parquet(r.quarantine_path).toPandas().set_index("transaction_id")
    assert q.loc["p2", "amount"] == "NaN" and q.loc["p3", "amount"] == "-1.0"
    assert r.output_rows == 1


def test_json_input_and_epoch_timestamps(spark, tmp_path) -> None:
    src = tmp_path / "in.json"
    src.write_text(
        '{"tid": "j1", "card": "c", "m": "x", "t": 1704067200, "amt": 3.5, "y": 0}\n'
        '{"tid": "j2", "card": "c", "m": "x", "t": "yesterday", "amt": "3.5", "y": 1}\n'
        "{this is not json\n"
    )
    cols = {"transaction_id": "tid", "card_id": "card", "merchant_id": "m", "timestamp": "t", "amount": "amt", "label": "y"}
    cfg = load_config(
        None,
        {"paths.root": str(tmp_path / "w"), "etl": {"input": str(src), "columns": cols, "timestamp_format": "epoch_seconds"}},
    )
    r = run_etl(spark, cfg)
    assert r.input_format == "json" and r.output_rows == 1
    assert r.quarantine_by_reason == {"unparseable_timestamp": 1, "malformed_record": 1}
    out = spark.read.parquet(r.output_path).first()
    assert out["timestamp"] == dt.datetime(2024, 1, 1) and out[PARTITION_COLUMN] == dt.date(2024, 1, 1)


# ---- errors -------------------------------------------------------------------------------


def test_missing_required_columns_name_the_columns(spark, tmp_path) -> None:
    src = _write_csv(tmp_path / "in.csv", [{"id": "a", "card": "c"}], header=["id", "card"])
    with pytest.raises(SchemaError, match=r"merchant_id \(looked for 'shop'\).*amount \(looked for 'value'\)"):
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


@pytest.mark.parametrize("kind", ["header_only", "missing_path", "empty_dir"])
def test_empty_input_is_a_clear_error(spark, tmp_path, kind) -> None:
    src = tmp_path / "in"
    if kind == "header_only":
        _write_csv(src / "a.csv", [])
    elif kind == "empty_dir":
        src.mkdir()
    with pytest.raises(EmptyInputError, match=str(src)):
        run_etl(spark, _config(tmp_path, src, format="csv" if kind == "empty_dir" else None))
    assert not (tmp_path / "work" / "canonical").exists()


def test_unknown_format_asks_for_etl_format(spark, tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"etl\.format"):
        run_etl(spark, _config(tmp_path, tmp_path / "in"))


@pytest.mark.parametrize(
    "override, match",
    [
        ({"etl.columns": {"amout": "x"}}, r"unknown: \['amout'\]"),
        ({"etl.columns": {"amount": "x", "label": "x"}}, r"same source \['x'\]"),
        ({"etl.format": "xlsx"}, r"etl\.format"),
        ({"etl.inputs": "x"}, r"etl\.inputs"),
    ],
)
def test_bad_etl_config_names_the_key(override, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, override)
