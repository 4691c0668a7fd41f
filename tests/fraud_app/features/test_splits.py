"""Time splits: windows in order, separated by the gap, every row in at most one split."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.errors import ConfigError, EmptyInputError
from fraud_app.features.config import SplitsSection, SplitWindow
from fraud_app.features.splits import plan_windows, split_by_time

UTC = dt.UTC


def _dates(train, validation, test) -> SplitsSection:
    def w(pair):
        return SplitWindow(start=dt.date.fromisoformat(pair[0]), end=dt.date.fromisoformat(pair[1]))

    return SplitsSection(by="dates", train=w(train), validation=w(validation), test=w(test))


def test_lengths_count_back_from_the_end_with_gaps():
    cfg = SplitsSection(test_days=5, validation_days=4, train_days=10)
    train, val, test = plan_windows(cfg, gap_days=7, data_end=dt.date(2024, 2, 1))
    assert test.end == dt.datetime(2024, 2, 1, tzinfo=UTC)
    assert test.start == dt.datetime(2024, 1, 27, tzinfo=UTC)
    assert val.end == dt.datetime(2024, 1, 20, tzinfo=UTC)  # 7-day gap
    assert val.start == dt.datetime(2024, 1, 16, tzinfo=UTC)
    assert train.end == dt.datetime(2024, 1, 9, tzinfo=UTC)
    assert train.start == dt.datetime(2023, 12, 30, tzinfo=UTC)
    no_start = plan_windows(SplitsSection(), gap_days=1, data_end=dt.date(2024, 2, 1))[0]
    assert no_start.start is None


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        (
            (
                ("2024-01-01", "2024-01-20"),
                ("2024-01-15", "2024-01-25"),
                ("2024-02-10", "2024-02-15"),
            ),
            r"splits\.validation \(from 2024-01-15\) overlaps or precedes splits\.train",
        ),
        (
            (
                ("2024-01-01", "2024-01-10"),
                ("2024-01-12", "2024-01-20"),
                ("2024-02-10", "2024-02-15"),
            ),
            r"splits\.validation starts 2024-01-12 00:00, less than the gap of 7 days after "
            r"splits\.train ends \(2024-01-10 00:00\)\. Move it to 2024-01-17 00:00 or later",
        ),
        (
            (
                ("2024-01-01", "2024-01-10"),
                ("2024-02-01", "2024-02-10"),
                ("2024-01-20", "2024-01-25"),
            ),
            r"splits\.test .* overlaps or precedes splits\.validation",
        ),
    ],
)
def test_bad_date_windows_are_config_errors(windows, message):
    with pytest.raises(ConfigError, match=message):
        plan_windows(_dates(*windows), gap_days=7)


def test_gaps_before_validation_and_before_test_are_separate():
    assert SplitsSection().gaps(7) == (0.0, 7)  # every row whose label is known is used
    assert SplitsSection(gap_days=3).gaps(7) == (3, 3)  # the older key sets both
    assert SplitsSection(gap_days=3, validation_gap_days=1).gaps(7) == (1, 3)
    assert SplitsSection(validation_gap_days=2, test_gap_days=4).gaps(7) == (2, 4)
    cfg = SplitsSection(test_days=5, validation_days=4, train_days=10)
    train, val, test = plan_windows(cfg, gap_days=(2, 7), data_end=dt.date(2024, 2, 1))
    assert test.start - val.end == dt.timedelta(days=7)
    assert val.start - train.end == dt.timedelta(days=2)
    dates = _dates(
        ("2024-01-01", "2024-01-10"), ("2024-01-10", "2024-01-20"), ("2024-01-25", "2024-02-01")
    )
    plan_windows(dates, gap_days=(0, 5))  # adjacent train / validation is fine with a 0 gap
    with pytest.raises(ConfigError, match=r"splits\.test starts 2024-01-25 00:00, less than the gap of 6 days"
                       r".*test_gap_days, default features.label_delay_days; the test gap is the label delay"):  # fmt: skip
        plan_windows(dates, gap_days=(0, 6))


@pytest.mark.spark
def test_default_windows_use_every_row_whose_label_is_known_at_training_time(spark):
    """Trained at the start of test, with a 3-day label delay: train + validation hold exactly the
    rows at least 3 days older than the test window; the gap holds the rest."""
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(f"t{i:04d}", start + dt.timedelta(hours=5 * i), int(i % 7 == 0)) for i in range(200)]
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    result = split_by_time(df, SplitsSection(test_days=4, validation_days=4), label_delay_days=3)
    train, val, test = result.windows
    assert train.end == val.start and test.start - val.end == dt.timedelta(days=3)
    known = {tid for tid, ts, _ in rows if ts + dt.timedelta(days=3) < test.start}
    used = {
        r[0]
        for part in (result.train, result.validation)
        for r in part.select("transaction_id").collect()
    }
    assert used == known
    assert result.summary["validation_gap_days"] == 0 and result.summary["test_gap_days"] == 3


def test_lengths_that_leave_no_room_fail_on_data():
    with pytest.raises(ConfigError, match="splits.end is needed"):
        plan_windows(SplitsSection(), gap_days=7, data_end=None)


@pytest.mark.spark
def test_split_respects_gap_and_never_overlaps(spark):
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        (f"t{i:04d}", start + dt.timedelta(hours=7 * i), 1 if i % 9 == 0 else 0) for i in range(150)
    ]  # ~44 days
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    cfg = SplitsSection(test_days=5, validation_days=5, validation_gap_days=7)
    result = split_by_time(df, cfg, label_delay_days=7)
    parts = {"train": result.train, "validation": result.validation, "test": result.test}
    got = {
        name: part.select("transaction_id", "timestamp").collect() for name, part in parts.items()
    }
    ids = {name: {r[0] for r in rs} for name, rs in got.items()}
    first = {name: min(r[1] for r in rs) for name, rs in got.items()}
    last = {name: max(r[1] for r in rs) for name, rs in got.items()}
    gap = dt.timedelta(days=7)
    assert last["train"] + gap <= first["validation"]
    assert last["validation"] + gap <= first["test"]
    assert not (
        ids["train"] & ids["validation"]
        or ids["validation"] & ids["test"]
        or ids["train"] & ids["test"]
    )
    summary = result.summary
    assert summary["gap_days"] == 7
    for name in parts:
        assert summary["windows"][name]["rows"] == len(ids[name]) == len(got[name])
    assert summary["windows"]["test"]["end"].startswith("2024-02-14")  # day after the last row
    total = sum(len(v) for v in ids.values()) + summary["unused_rows"]
    assert total == len(rows)
    assert summary["windows"]["train"]["frauds"] == sum(
        1 for tid, _, lab in rows if lab == 1 and tid in ids["train"]
    )


@pytest.mark.spark
def test_window_without_rows_is_an_error(spark):
    rows = [("a", dt.datetime(2024, 1, 1, tzinfo=UTC), 0)]
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    cfg = _dates(
        ("2024-01-01", "2024-01-05"), ("2024-01-12", "2024-01-15"), ("2024-01-22", "2024-01-25")
    )
    with pytest.raises(
        EmptyInputError,
        match=r"split window\(s\) \['validation', 'test'\] hold no rows \(train "
        r"2024-01-01T00:00:00\+00:00 \.\. 2024-01-05T00:00:00\+00:00: 1 rows; validation "
        r"2024-01-12T00:00:00\+00:00 \.\. 2024-01-15T00:00:00\+00:00: 0 rows; test .*: 0 rows; "
        r"gaps before validation \d+ d and before test \d+ d\)\. The data covers",
    ):
        split_by_time(df, cfg, label_delay_days=7)


@pytest.mark.spark
def test_split_and_balance_from_config(spark):
    from fraud_app.config import load_config
    from fraud_app.features.pipeline import split_and_balance

    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(f"t{i:04d}", start + dt.timedelta(hours=5 * i), int(i % 7 == 0)) for i in range(200)]
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    config = load_config(
        None,
        {
            "features.label_delay_days": 3,
            "splits.test_days": 4,
            "splits.validation_days": 4,
            "balancing.strategy": "unionpay_subsets",
            "balancing.unionpay_subsets.n_subsets": 2,
        },
    )
    split, balanced = split_and_balance(df, config)
    assert split.summary["gap_days"] == 3
    train_frauds = split.summary["windows"]["train"]["frauds"]
    assert [s["frauds"] for s in balanced.summary["subsets"]] == [train_frauds, train_frauds]
    assert balanced.summary["normals"] == split.summary["windows"]["train"]["rows"] - train_frauds


@pytest.mark.spark
def test_data_of_a_few_days_says_how_many_days_the_windows_take(spark):
    # ten days of data under the default lengths (7 + 7 + 7): the error gave the windows'
    # dates only; it now adds them up beside the days the data spans
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(f"t{i}", start + dt.timedelta(hours=6 * i), i % 2) for i in range(40)]
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    with pytest.raises(
        EmptyInputError,
        match=r"\. The windows take the last 21 days \(test_days 7 \+ test_gap_days 7 \+ "
        r"validation_days 7 \+ validation_gap_days 0\) and training needs days before them; "
        r"the data spans 9\.8 days: shorten those windows",
    ):
        split_by_time(df, SplitsSection(), label_delay_days=7)
