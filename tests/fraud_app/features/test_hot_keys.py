"""An id holding a large share of the rows (session 29 probe): a test card run thousands
of times, an aggregator merchant, or an export's placeholder for "unknown" that
etl.missing_ids does not list ('0') is ONE entity to the window features. Its features
were computed without a word, and a hot card made `features` ~5x slower than uniform cards
at 50,000 rows (sliding frames: cost grows with a card's rows per window).
Now one WARNING per such id, before the windows run, and `hot_keys` in the summary.
Real ETL and feature table on a small CSV."""

from __future__ import annotations

import json
import logging

import pytest

from fraud_app.config import load_config
from fraud_app.etl.pipeline import run_etl
from fraud_app.features import pipeline as features_pipeline
from fraud_app.features.hot_keys import HOT_MIN_ROWS
from fraud_app.features.pipeline import build_feature_table
from tests.fraud_app.etl.test_daily_step_jobs import _jobs

pytestmark = pytest.mark.spark

SPEC = """version: 1
features:
  - kind: window_agg
    entity: card
    aggregations: [count]
    windows: [1h]
  - kind: window_agg
    entity: merchant
    aggregations: [count]
    windows: [1h]
"""


def _warnings(caplog, logger: str) -> list[str]:
    """The WARNINGs of `logger` (caplog also holds what other loggers wrote: the ETL's INFO
    lines, when an earlier test of the same process set fraud_app's level to INFO)."""
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING
    ]


def _features_of(spark, tmp_path, caplog, csv: str, logger: str):
    """`etl` of the CSV text, then `features` with SPEC, `logger`'s WARNINGs in caplog."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text(csv)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "s.yaml").write_text(SPEC)
    config = load_config(None, {
        "paths.root": str(tmp_path / "work"), "etl.input": str(tmp_path / "in"),
        "features.spec_dir": str(tmp_path / "specs"),
    })  # fmt: skip
    run_etl(spark, config)
    with caplog.at_level(logging.WARNING, logger=logger):
        return build_feature_table(spark, config)


def _export(n: int, hot_every: int) -> str:
    """n rows over 5 days; every `hot_every`-th row is card 'TEST' and merchant '0'."""
    lines = ["transaction_id,card_id,merchant_id,timestamp,amount,label"]
    for i in range(n):
        hot = i % hot_every == 0
        card, merchant = ("TEST", "0") if hot else (f"c{i % 97}", f"m{i % 89}")
        ts = f"2024-01-0{1 + i * 5 // n} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
        lines.append(f"t{i},{card},{merchant},{ts},{1 + i % 50}.5,{int(i % 50 == 7)}")
    return "\n".join(lines) + "\n"


def test_a_hot_card_and_a_hot_merchant_are_named(spark, tmp_path, caplog, monkeypatch) -> None:
    n = 3 * HOT_MIN_ROWS + 300  # 3,300 rows; the hot ids hold 1 in 3 of them (1,100)
    # the checks read what the value counts' pass collected with its dates (session 44:
    # the hot ids' own window and collect were 2 jobs, the spellings' 3)
    phases = {"hot": (features_pipeline, "find_hot_keys"),
              "spellings": (features_pipeline, "find_spellings")}  # fmt: skip
    found = {}
    jobs = _jobs(spark, monkeypatch, phases, lambda: found.update(s=_features_of(
        spark, tmp_path, caplog, _export(n, 3), "fraud_app.features.hot_keys")))  # fmt: skip
    assert jobs["hot"] == 0 and jobs["spellings"] == 0, jobs
    summary = found["s"]
    hot = summary.extra["hot_keys"]
    assert [(h["column"], h["value"], h["rows"], h["total"], h["sliding"]) for h in hot] == [
        ("card_id", "TEST", 1100, n, True),
        ("merchant_id", "0", 1100, n, False),
    ]
    messages = _warnings(caplog, "fraud_app.features.hot_keys")
    assert len(messages) == 2
    assert messages[0].startswith(
        "features: card_id 'TEST' holds 1100 of the 3300 rows (33.3 %; the next largest "
        "card_id holds 24): its card features are computed over all of them as one card; its "
        "card windows use sliding frames (frame: auto), whose cost per row grows with the "
        "entity's rows per window, so this step takes longer (frame: running in the spec uses "
        "exact running sums instead, O(1) per row, for counts, sums, means, stds and "
        "z-scores). If the value stands for an "
        "unknown card (a "
        "placeholder such as 0 or -1), list it under etl.missing_ids and run etl again"
    )
    assert "merchant_id '0' holds 1100" in messages[1] and "sliding" not in messages[1]


def test_uniform_ids_are_not_named(spark, tmp_path, caplog) -> None:
    n = 2 * HOT_MIN_ROWS
    summary = _features_of(
        spark,
        tmp_path,
        caplog,
        _export(n, n + 1).replace("TEST", "c0"),
        "fraud_app.features.hot_keys",
    )
    assert "hot_keys" not in summary.extra
    assert not _warnings(caplog, "fraud_app.features.hot_keys")


def test_two_spellings_of_one_id_are_named(spark, tmp_path, caplog) -> None:
    # card 123 delivered as text '00123' and, by an export that wrote numbers, as 123: two
    # cards with half a history each; 'Shop1' / 'SHOP1' typed by hand: two merchants
    rows = [("t1", "00123", "Shop1"), ("t2", "123", "SHOP1"), ("t3", "0042", "m2"),
            ("t4", "42", "m2"), ("t5", "042", "m3"), ("t6", "C7", "m3"), ("t7", "c7", "m3")]  # fmt: skip
    csv = "transaction_id,card_id,merchant_id,timestamp,amount,label\n" + "".join(
        f"{t},{c},{m},2024-01-05 1{i}:00:00,10.0,0\n" for i, (t, c, m) in enumerate(rows)
    )
    summary = _features_of(spark, tmp_path, caplog, csv, "fraud_app.features.id_spellings")
    assert summary.extra["id_spellings"] == {
        "card_id": {
            "case": {"groups": 1, "examples": [["C7", "c7"]]},
            "leading zeros": {"groups": 2, "examples": [["00123", "123"], ["0042", "042", "42"]]},
        },
        "merchant_id": {"case": {"groups": 1, "examples": [["SHOP1", "Shop1"]]}},
    }
    messages = sorted(_warnings(caplog, "fraud_app.features.id_spellings"))
    assert len(messages) == 3
    assert messages[2] == (
        "features: 2 card_id value(s) come in several spellings that differ only in leading zeros "
        "(e.g. '00123' / '123'; '0042' / '042' / '42'): each spelling is its own card to the "
        "features, with its own history. If they are one card (an export that wrote the ids as "
        "numbers drops their zeros), deliver the ids in one spelling (as text) and run etl "
        "again; if they are distinct cards, this is expected"
    )


def test_a_card_number_in_the_checks_is_masked_in_the_summary(spark, tmp_path, caplog) -> None:
    """Review37b (session 37): `hot_keys` and `id_spellings` named a card by its full
    number in the summary that `features` and `run` print (a scheduler's log store, outside
    the data lake): the one place the card-number masking of session 37 did not reach."""
    pan = "4111111111111111"
    # 1,200 rows of one card (and merchant '0'), one of them spelled with a leading zero
    csv = _export(HOT_MIN_ROWS + 200, 1).replace("t1,TEST,", f"t1,0{pan},")
    csv = csv.replace(",TEST,", f",{pan},")
    summary = _features_of(spark, tmp_path, caplog, csv, "fraud_app.features.hot_keys")
    assert pan not in json.dumps(summary.to_dict())  # was in both checks
    hot = {h["column"]: h["value"] for h in summary.extra["hot_keys"]}
    assert hot == {"card_id": "411111******1111", "merchant_id": "0"}
    assert summary.extra["id_spellings"]["card_id"]["leading zeros"]["examples"] == [
        ["041111*******1111", "411111******1111"]
    ]
