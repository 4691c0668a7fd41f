"""Schema drift upstream (session 33): after weeks of deliveries holding mcc, channel,
country, ..., a daily delivery drops a column (or keeps its header, empty, or renames
it). The ETL published the rows with the column null without a word (an explicitly
mapped column absent got a WARNING saying its features are skipped, which is not so when
the table holds earlier values: the new rows take the features' fill value). An append
now names each optional column whose share of values fell below half of the newest
published dates' share, in the report (`emptied_columns`) and one WARNING. Likewise a
code column whose values changed spelling (country `DE` -> `Germany`): every row a
category the encodings never saw (`unseen_values`). An mcc written through a float (`5812`
-> `5812.0`) is no new spelling since session 53: it is read as MCC `5812`; nor is a
country `de`, `DEU` or `276` since session 54: it is read as `DE`.

A delivery whose amounts (or timestamps) changed format upstream was quarantined as a
whole with INFO lines only: in an append the table keeps its earlier rows, so the "no row
reached the canonical table" WARNING never fired. At least half of an input quarantined
is now one WARNING naming the main reason and an example."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import assert_accounted

pytestmark = pytest.mark.spark


def _day(day: str, n: int = 10, prefix: str = "t") -> pd.DataFrame:
    return pd.DataFrame({
        "transaction_id": [f"{prefix}{day}-{i}" for i in range(n)],
        "card_id": [f"c{i % 4}" for i in range(n)],
        "merchant_id": [f"m{i % 3}" for i in range(n)],
        "timestamp": [f"{day} {10 + i % 10:02d}:00:00" for i in range(n)],
        "amount": [1.5 + i for i in range(n)],
        "label": [0] * n,
        "mcc": ["5411", "5812"] * (n // 2),
        "channel": ["POS", "ECOM"] * (n // 2),
        "country": ["DE"] * n,
    })  # fmt: skip


def _etl(spark, root: Path, frame: pd.DataFrame, name: str, mode: str, **columns):
    folder = root / name
    folder.mkdir()
    frame.to_csv(folder / "part.csv", index=False)
    config = load_config(None, {
        "paths.root": str(root / "work"),
        "etl": {"input": str(folder), "mode": mode, **({"columns": columns} if columns else {})},
    })  # fmt: skip
    return run_etl(spark, config)


def _history(spark, root: Path, **columns) -> None:
    days = pd.concat([_day(f"2024-03-{d:02d}") for d in range(1, 9)])
    if columns:
        days = days.rename(columns={c: s for c, s in columns.items()})
    _etl(spark, root, days, "history", "replace", **columns)


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory) -> Path:
    """root/work: 8 days of every column published once for the module (_history); a
    test appends to its own copy (`_copy`)."""
    root = tmp_path_factory.mktemp("history")
    _history(spark, root)
    return root / "work"


def _copy(history: Path, tmp_path: Path) -> None:
    shutil.copytree(history, tmp_path / "work")  # copy2: the files keep their mtimes


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lost the values" in r.getMessage()]


def test_a_delivery_without_a_column_the_table_holds_is_named(
    spark, tmp_path, history, caplog
) -> None:
    _copy(history, tmp_path)
    day = _day("2024-03-09", prefix="n").drop(columns=["mcc"])
    day.loc[:, "channel"] = ""  # kept in the header, empty in every row
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.delivery_checks"):
        result = _etl(spark, tmp_path, day, "new", "append")
    assert_accounted(spark, result, 10)
    assert result.output_rows == 90 and result.quarantine_rows == 0
    assert result.emptied_columns == {
        "mcc": {"added_share": 0.0, "published_share": 1.0,
                "published_dates": "2024-03-02..2024-03-08"},
        "channel": {"added_share": 0.0, "published_share": 1.0,
                    "published_dates": "2024-03-02..2024-03-08"},
    }  # fmt: skip
    (line,) = _warnings(caplog)
    assert (
        "mcc (export column 'mcc') in 0% of the added rows, against 100% of the published" in line
    )
    assert "channel (export column 'channel') in 0%" in line
    assert "country" not in line.split("rows hold:")[1].split("Its rows")[0]
    assert "etl.mode: replace over every delivery" in line


def test_a_renamed_mapped_column_is_named_with_its_export_name(spark, tmp_path, caplog) -> None:
    _history(spark, tmp_path, mcc="merchant_category")
    day = _day("2024-03-09", prefix="n").rename(columns={"mcc": "mcc_code"})  # renamed upstream
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _etl(spark, tmp_path, day, "new", "append", mcc="merchant_category")
    assert set(result.emptied_columns) == {"mcc"}
    (line,) = _warnings(caplog)
    assert "mcc (export column 'merchant_category') in 0% of the added rows" in line


def test_a_delivery_holding_its_columns_says_nothing(spark, tmp_path, history, caplog) -> None:
    _copy(history, tmp_path)
    day = _day("2024-03-09", prefix="n")
    day.loc[:3, "mcc"] = ""  # 4 of 10 empty: 60 % against 100 %, not below half
    day.loc[4:5, "country"] = "FR"  # 2 of 10 a country not seen: a new one can be real
    day["amount"] = day["amount"].astype(str)
    day.loc[:3, "amount"] = "$1.50"  # 4 of 10 quarantined: not most of the delivery
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _etl(spark, tmp_path, day, "new", "append")
    assert result.emptied_columns == {} and result.quarantine_rows == 4
    assert result.unseen_values == {}
    assert not _warnings(caplog)
    assert "were quarantined, not published" not in caplog.text


def test_a_delivery_quarantined_as_a_whole_is_a_warning(spark, tmp_path, history, caplog) -> None:
    _copy(history, tmp_path)
    day = _day("2024-03-09", prefix="n")
    day["amount"] = "$" + day["amount"].astype(str)  # the export's amount format changed
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _etl(spark, tmp_path, day, "new", "append")
    assert_accounted(spark, result, 10)
    assert result.output_rows == result.previous_rows == 80
    assert result.quarantine_by_reason == {"non_numeric_amount": 10}
    (line,) = [
        r.getMessage() for r in caplog.records if "quarantined, not published" in r.getMessage()
    ]
    assert line.startswith(
        "ETL: 10 of this input's 10 records (100%) were quarantined, not published; most: "
        "non_numeric_amount (10 rows, e.g. amount '$1.5' is not a number"
    )


def test_code_values_spelt_anew_are_named(spark, tmp_path, history, caplog) -> None:
    _copy(history, tmp_path)
    day = _day("2024-03-09", prefix="n")
    # '5411' -> '5411.0': read as MCC 5411 (session 53: it was a new spelling of each)
    day["mcc"] = day["mcc"].astype(float).astype(str)
    # a name for the code: 'de' would be read as DE (probe54a: ISO 3166-1 codes in any
    # form or case are published as alpha-2), a name is no code and is published as is
    day["country"] = "Germany"
    day["channel"] = day["channel"].str.lower()  # read in upper case, as always
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _etl(spark, tmp_path, day, "new", "append")
    assert_accounted(spark, result, 10)
    assert result.quarantine_rows == 0 and result.emptied_columns == {}
    dates = "2024-03-02..2024-03-08"
    assert result.unseen_values == {
        "country": {"added_share": 1.0, "added_values": ["Germany"], "published_values": ["DE"],
                    "published_dates": dates},
    }  # fmt: skip
    (line,) = [r.getMessage() for r in caplog.records if "mostly new" in r.getMessage()]
    assert (
        "country (export column 'country'): 100% of the added rows hold values the published "
        "rows of 2024-03-02..2024-03-08 never do (e.g. 'Germany'; published: 'DE')"
    ) in line and "mcc" not in line
    mccs = {r.mcc for r in spark.read.parquet(result.output_path).collect()}
    assert mccs == {"5411", "5812"}  # the float-written delivery's too: one code each


def test_a_header_repeating_a_column_is_refused_naming_the_copies(spark, tmp_path) -> None:
    # it said "its header repeats column(s) ['amount'] compared with <the same file>
    # (columns [..., 'amount4', ..., 'amount9'])": another file's problem in its words
    day = _day("2024-03-09")
    with pytest.raises(SchemaError) as caught:
        _etl(spark, tmp_path, pd.concat([day, day[["amount"]]], axis=1), "new", "replace")
    said = str(caught.value)
    assert "part.csv: its header repeats column(s) ['amount'] (names are compared without " in said
    assert (
        "Spark reads the copies as ['amount4', 'amount9']). Expected each column name once" in said
    )
    assert "compared with" not in said.replace("compared without", "")
