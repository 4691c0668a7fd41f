"""Synthetic generator: exact row budget, determinism, fraud scenarios and their signatures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fraud_app.config import load_config
from fraud_app.data.config import FRAUD_PATTERNS, GenerateSection
from fraud_app.data.generator import (
    RAW_COLUMN_NAMES,
    generate_raw,
    generate_transactions,
    plan_segments,
    to_raw_layout,
    write_raw,
)
from fraud_app.errors import ConfigError, OutputPathError
from fraud_app.schema import ALLOWED_CHANNELS, CANONICAL_COLUMNS

REPO = Path(__file__).resolve().parents[3]
SMALL = GenerateSection(
    n_transactions=10_000, n_cards=1_000, n_merchants=600, days=28, fraud_rate=0.02, seed=7
)


# ---- pure planning / config (no Spark) ---------------------------------------------------


@pytest.mark.parametrize("n, rate", [(200_000, 0.005), (10_000, 0.02), (1_000, 0.001), (10, 0.2)])
def test_row_budget_is_exact(n: int, rate: float) -> None:
    cfg = GenerateSection(n_transactions=n, fraud_rate=rate)
    segments = plan_segments(cfg)
    assert sum(s.rows for s in segments) == n
    assert sum(s.frauds for s in segments) == max(1, round(n * rate))
    assert [s.start for s in segments] == [
        sum(x.rows for x in segments[:k]) for k in range(len(segments))
    ]


def test_every_weighted_pattern_gets_frauds() -> None:
    names = {s.pattern.name for s in plan_segments(SMALL) if s.frauds}
    assert names == set(FRAUD_PATTERNS)


@pytest.mark.parametrize(
    "override, match",
    [
        ({"generate.pattern_weights": {"phishing": 1.0}}, r"generate.*unknown pattern.*phishing"),
        ({"generate.fraud_rate": 0.5}, r"generate\.fraud_rate"),
        ({"generate.rows": 5}, r"generate\.rows: unknown key.*valid keys here: n_transactions"),
        (
            {"generate.label_delay_days": {"median_days": 100}},
            r"min_days <= median_days <= max_days",
        ),
    ],
)
def test_bad_generate_config_names_the_key(override: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, override)


def test_demo_config_maps_the_generators_raw_names() -> None:
    cfg = load_config(REPO / "configs" / "demo.yaml")
    assert dict(cfg.etl.columns) == RAW_COLUMN_NAMES
    raw = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    assert raw["etl"]["columns"] == RAW_COLUMN_NAMES
    assert set(RAW_COLUMN_NAMES) == {c.name for c in CANONICAL_COLUMNS}


# ---- generated data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(spark) -> pd.DataFrame:
    return generate_transactions(spark, SMALL).toPandas()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("transaction_id").reset_index(drop=True)


@pytest.mark.spark
def test_same_seed_same_rows_different_seed_different_rows(spark) -> None:
    cfg = GenerateSection(n_transactions=1_500, n_cards=200, fraud_rate=0.05, seed=3, partitions=3)
    a = _sorted(generate_transactions(spark, cfg).toPandas())
    b = _sorted(generate_transactions(spark, cfg.model_copy(update={"partitions": 1})).toPandas())
    c = _sorted(generate_transactions(spark, cfg.model_copy(update={"seed": 4})).toPandas())
    pd.testing.assert_frame_equal(a, b)  # also independent of the partitioning
    assert not set(a.transaction_id) & set(c.transaction_id)
    assert (a.amount.to_numpy() != c.amount.to_numpy()).mean() > 0.9


@pytest.mark.spark
def test_schema_ids_and_ranges(small: pd.DataFrame) -> None:
    assert list(small.columns) == [c.name for c in CANONICAL_COLUMNS]
    assert len(small) == SMALL.n_transactions and small.transaction_id.is_unique
    assert (
        small[["transaction_id", "card_id", "merchant_id", "timestamp", "amount", "label"]]
        .notna()
        .all()
        .all()
    )
    assert (small.amount > 0).all() and set(small.channel) <= set(ALLOWED_CHANNELS)
    start = pd.Timestamp(SMALL.start_date)
    assert small.timestamp.min() >= start and small.timestamp.max() < start + pd.Timedelta(
        days=SMALL.days
    )
    assert small.card_id.nunique() <= SMALL.n_cards
    assert ((small.channel == "ATM") == (small.mcc == "6011")).all()
    assert small.device_id.notna().eq(small.channel == "ECOM").all()


@pytest.mark.spark
def test_fraud_rate_patterns_and_label_times(small: pd.DataFrame) -> None:
    assert small.label.mean() == pytest.approx(SMALL.fraud_rate, rel=0.05)
    frauds = small[small.label == 1]
    assert set(frauds.fraud_pattern) == set(FRAUD_PATTERNS)
    assert small[small.label == 0].fraud_pattern.isna().all()
    delay_days = (small.label_time - small.timestamp).dt.total_seconds() / 86_400
    assert (delay_days[small.label == 0] == SMALL.settlement_delay_days).all()
    fraud_delay = delay_days[small.label == 1]
    assert fraud_delay.between(
        SMALL.label_delay_days.min_days, SMALL.label_delay_days.max_days
    ).all()
    assert 3 < fraud_delay.median() < 15


@pytest.mark.spark
def test_pattern_signatures(small: pd.DataFrame) -> None:
    normal = small[small.label == 0]
    by = {name: g for name, g in small.groupby("fraud_pattern")}
    testing = by["card_testing"]
    assert testing.amount.max() <= 3.0 and (testing.channel == "ECOM").mean() > 0.7
    bursts = testing.groupby("card_id").timestamp.agg(lambda t: (t.max() - t.min()).total_seconds())
    assert (bursts <= 600).mean() > 0.8  # ~10 payments within 10 minutes per card
    stolen = by["stolen_card"]
    assert stolen.amount.median() > 4 * normal.amount.median()
    assert stolen.mcc.isin(["5732", "5944", "5311", "6011"]).all()
    ato = by["account_takeover"]
    assert (ato.country != ato.card_country).all() and (ato.channel == "ECOM").all()
    usual_devices = set(normal.device_id.dropna())
    assert not set(ato.device_id) & usual_devices
    assert (normal.country != normal.card_country).mean() < 0.15  # cross-border is the exception


@pytest.mark.spark
def test_compromised_cards_visited_a_common_merchant_before_the_fraud(small: pd.DataFrame) -> None:
    cm = small[small.fraud_pattern == "compromised_merchant"]
    visits = small[(small.label == 0) & small.card_id.isin(cm.card_id)]
    # breached merchants: visited by several of the later-defrauded cards
    shared = visits.groupby("merchant_id").card_id.nunique()
    breached = set(shared[shared >= 5].index)
    first_fraud = cm.groupby("card_id").timestamp.min()
    prior = visits[visits.merchant_id.isin(breached)].merge(
        first_fraud.rename("fraud_at"), on="card_id"
    )
    cards_with_prior_visit = prior[prior.timestamp < prior.fraud_at].card_id.nunique()
    assert breached and cards_with_prior_visit >= 0.9 * cm.card_id.nunique()


@pytest.mark.spark
def test_daily_and_weekly_seasonality(small: pd.DataFrame) -> None:
    normal = small[small.label == 0]
    hours = normal.timestamp.dt.hour.value_counts()
    assert hours[19] > 5 * hours[3]
    dow = normal.timestamp.dt.dayofweek.value_counts()  # 28 days: four of each weekday
    assert dow[5] > 1.15 * dow[0]  # Saturday busier than Monday


@pytest.mark.spark
def test_raw_layout_uses_user_names_and_string_times(spark) -> None:
    cfg = SMALL.model_copy(update={"n_transactions": 500})
    raw = to_raw_layout(generate_transactions(spark, cfg))
    assert raw.columns == list(RAW_COLUMN_NAMES.values())
    types = dict(raw.dtypes)
    assert types["ts"] == "string" and types["amt"] == "double" and types["is_fraud"] == "int"
    first = raw.orderBy("txn_id").first()
    assert dt.datetime.strptime(first["ts"], "%Y-%m-%d %H:%M:%S")


@pytest.mark.spark
def test_dirty_rows_are_injected(spark) -> None:
    cfg = SMALL.model_copy(update={"n_transactions": 2_000, "dirty_fraction": 0.1})
    raw = generate_raw(spark, cfg).toPandas()
    assert len(raw) > cfg.n_transactions  # duplicates add rows
    duplicated = raw[raw.txn_id.duplicated(keep=False) & raw.txn_id.notna()]
    versions = duplicated.groupby("txn_id").ts.nunique()  # identical or conflicting copies
    assert versions.isin([1, 2]).all() and (versions == 1).any() and (versions == 2).any()
    assert (raw.amt == 1e308).any()
    assert raw.txn_id.isna().any() and (raw.entry_mode == "MOBILE").any() and (raw.amt < 0).any()
    assert raw.amt.isna().any() and (raw.is_fraud == 2).any() and (raw.ts == "not a date").any()


@pytest.mark.spark
def test_delay_only_mode_drops_label_time_and_changes_nothing_else(spark) -> None:
    cfg = SMALL.model_copy(update={"n_transactions": 800})
    with_times = _sorted(generate_transactions(spark, cfg).toPandas())
    delay_only = generate_transactions(spark, cfg.model_copy(update={"label_times": False}))
    assert "label_time" not in delay_only.columns
    pd.testing.assert_frame_equal(
        _sorted(delay_only.toPandas()), with_times.drop(columns="label_time")
    )
    raw = generate_raw(spark, cfg.model_copy(update={"label_times": False, "dirty_fraction": 0.05}))
    assert RAW_COLUMN_NAMES["label_time"] not in raw.columns and raw.count() >= 800


def test_write_raw_never_deletes_files_it_did_not_write(spark, tmp_path) -> None:
    # Spark's overwrite deleted whatever the folder held: `generate --output` (or `run
    # --generate`) pointed at a folder of real deliveries deleted them
    df = spark.createDataFrame([(1, "a")], "id int, v string")
    out = tmp_path / "raw"
    write_raw(df, out, "csv")
    write_raw(df, out, "csv")  # its own earlier output is replaced
    (out / "delivery-2024-01.csv").write_text("id,v\n7,x\n")
    with pytest.raises(OutputPathError, match=r"holds files that generate did not write \(e\.g\. "
                       r"delivery-2024-01\.csv, 1 in all\); writing there would delete them"):  # fmt: skip
        write_raw(df, out, "csv")
    assert (out / "delivery-2024-01.csv").read_text() == "id,v\n7,x\n"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OutputPathError, match=r"a-file is a file"):
        write_raw(df, tmp_path / "a-file", "csv")
