"""Ids an export writes for "unknown" (session 29 probe): a merchant_id 'UNKNOWN', '-' or
'?' was published as a real merchant, so every unknown merchant of the export became ONE
merchant, whose counts and fraud rates mixed unrelated transactions (silently wrong
features on every such row); a card_id 'UNKNOWN' made one card of every card-less row.
Now `etl.missing_ids` (default unknown, undefined, ?, -; the user adds '0', '-1') reads
them as missing: a required id's row is quarantined naming the setting, an optional id
is published null, counted per value with one WARNING. Real ETL on real files."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import WindowAggregate
from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label\n"


def _csv(rows: list[tuple[str, str, str, str]]) -> str:
    return HEADER + "".join(f"{t},{c},{m},{ts},10.0,0\n" for t, c, m, ts in rows)


def test_default_placeholders_are_no_id(spark, tmp_path, caplog) -> None:
    csv = _csv([
        ("t1", "c1", "UNKNOWN", "2024-01-05 10:00:00"),
        ("t2", "c2", "unknown", "2024-01-05 11:00:00"),
        ("t3", "c3", " - ", "2024-01-05 12:00:00"),
        ("t4", "c4", "?", "2024-01-05 13:00:00"),
        ("t5", "UNKNOWN", "m1", "2024-01-05 14:00:00"),
        ("?", "c6", "m1", "2024-01-05 15:00:00"),
        ("t7", "c7", "m-1", "2024-01-05 16:00:00"),  # ids that merely hold the text stay
        ("t8", "unknown-7", "m1", "2024-01-05 17:00:00"),
    ])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.id_checks"):
        result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, 8)
    rows = _rows(spark, result)
    assert {k: (v["card_id"], v["merchant_id"]) for k, v in rows.items()} == {
        "t1": ("c1", None), "t2": ("c2", None), "t3": ("c3", None), "t4": ("c4", None),
        "t7": ("c7", "m-1"), "t8": ("unknown-7", "m1"),
    }  # fmt: skip
    assert _quarantine(spark, result) == {
        "t5": ("missing_required_field",
               "missing required field(s): card_id ('UNKNOWN' means no value: etl.missing_ids)"),
        "?": ("missing_required_field",
              "missing required field(s): transaction_id ('?' means no value: etl.missing_ids)"),
    }  # fmt: skip
    assert result.placeholder_ids == {"merchant_id": {"-": 1, "?": 1, "UNKNOWN": 1, "unknown": 1}}
    report = json.loads((tmp_path / "work" / "canonical" / "_etl_report.json").read_text())
    assert report["placeholder_ids"] == result.placeholder_ids
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "ETL: 4 row(s) name no merchant: merchant_id '-' 1, '?' 1, 'UNKNOWN' 1, 'unknown' 1 "
        "(etl.missing_ids). They are published with merchant_id null"
    )


def test_listed_numbers_are_no_id_in_every_format(spark, tmp_path) -> None:
    # an export's own sentinels: merchant 0, card -1; as text, as JSON numbers, as a float
    # column (0.0) and as integers in Parquet; '00' and '10' are other ids
    csv = _csv([
        ("t1", "c1", "0", "2024-01-05 10:00:00"),
        ("t2", "-1", "m1", "2024-01-05 11:00:00"),
        ("t3", "c3", "0.0", "2024-01-05 12:00:00"),
        ("t4", "c4", "00", "2024-01-05 13:00:00"),
    ])  # fmt: skip
    lines = "".join(json.dumps({"transaction_id": t, "card_id": c, "merchant_id": m,
                                "timestamp": "2024-01-06 10:00:00", "amount": 1.0, "label": 0})
                    + "\n" for t, c, m in [("j1", "c1", 0), ("j2", -1, 10), ("j3", "c3", "0")])  # fmt: skip
    parquet = pd.DataFrame({
        "transaction_id": ["p1", "p2", "p3"], "card_id": [5, -1, 6], "merchant_id": [0.0, 10.0, None],
        "timestamp": ["2024-01-07 10:00:00"] * 3, "amount": [1.0] * 3, "label": [0] * 3,
    })  # fmt: skip
    for name, content, fmt in [("a.csv", csv, "csv"), ("a.json", lines, "json"),
                               ("a.parquet", parquet, "parquet")]:  # fmt: skip
        result = _run(spark, tmp_path / fmt, {name: content}, format=fmt, missing_ids=[0, "-1"])
        rows = _rows(spark, result)
        assert all(v["merchant_id"] in (None, "m1", "00", "10") for v in rows.values()), rows
        q = _quarantine(spark, result)
        assert [v[1] for v in q.values()] == [
            "missing required field(s): card_id ('-1' means no value: etl.missing_ids)"
        ], (fmt, q)
        assert sum(result.placeholder_ids["merchant_id"].values()) == (1 if fmt == "parquet" else 2)
    assert _rows(spark, result)["p3"]["merchant_id"] is None  # a null stays null, uncounted


def test_an_empty_list_keeps_every_value_as_an_id(spark, tmp_path) -> None:
    csv = _csv([("t1", "UNKNOWN", "-", "2024-01-05 10:00:00")])
    result = _run(spark, tmp_path, {"a.csv": csv}, missing_ids=[])
    assert {k: (v["card_id"], v["merchant_id"]) for k, v in _rows(spark, result).items()} == {
        "t1": ("UNKNOWN", "-")
    }
    assert result.placeholder_ids == {}


def test_unknown_merchants_are_not_one_merchant_in_the_features(spark, tmp_path) -> None:
    # three unrelated shops an export could not name, within one hour: as one merchant
    # 'UNKNOWN' the third row's merchant_count_24h was 2 (its "merchant" had two earlier
    # sales); without a merchant it is undefined (the fill), as for any row without one
    csv = _csv([
        ("t1", "c1", "UNKNOWN", "2024-01-05 10:00:00"),
        ("t2", "c2", "UNKNOWN", "2024-01-05 10:20:00"),
        ("t3", "c3", "UNKNOWN", "2024-01-05 10:40:00"),
        ("t4", "c4", "m1", "2024-01-05 10:10:00"),
        ("t5", "c5", "m1", "2024-01-05 10:50:00"),
    ])  # fmt: skip
    result = _run(spark, tmp_path, {"a.csv": csv})
    canonical = spark.read.parquet(result.output_path)
    feature = WindowAggregate(entity="merchant", aggregation="count", window="24h")
    fs = FeatureSet(features=(feature,), label_delay_s=86_400)
    out = compute_features(canonical, fs, vector_column=None)
    got = {r.transaction_id: r[feature.name] for r in out.df.collect()}
    assert got == {"t1": 0.0, "t2": 0.0, "t3": 0.0, "t4": 0.0, "t5": 1.0}


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([True], r"etl.missing_ids: True is not an id; expected text or integers"),
        ([""], r"etl.missing_ids: an empty value is missing already"),
        ([0.5], r"etl.missing_ids: 0.5 has a fraction"),
    ],
)
def test_missing_ids_setting_is_checked(value, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, {"etl": {"missing_ids": value}})
    assert load_config(None, {"etl": {"missing_ids": [0, -1.0, " N.A. ", "7.00"]}}).etl.missing_ids == (
        "0", "-1", "N.A.", "7")  # fmt: skip
