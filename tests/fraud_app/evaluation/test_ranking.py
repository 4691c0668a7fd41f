"""Backtest fold planning and ranking metrics on hand-made data (no Spark)."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from fraud_app.errors import ConfigError
from fraud_app.evaluation.config import BacktestSection
from fraud_app.evaluation.folds import check_fold_data, plan_folds
from fraud_app.evaluation.ranking import card_precision_at_k, daily_alert_recall, mean_std

UTC = dt.UTC


def test_folds_advance_by_the_step_with_the_gap_before_test():
    cfg = BacktestSection(folds=3, step_days=7, train_days=14, validation_days=7, test_days=7)
    folds = plan_folds(cfg, label_delay_days=5, data_end=dt.date(2024, 3, 1))
    assert [f.test[1].date() for f in folds] == [
        dt.date(2024, 2, 16),
        dt.date(2024, 2, 23),
        dt.date(2024, 3, 1),
    ]
    for f in folds:
        assert f.cutoff == f.test[0] == f.test[1] - dt.timedelta(days=7)
        assert f.test[0] - f.validation[1] == dt.timedelta(days=5)  # the label delay
        assert f.validation[0] == f.train[1]  # validation_gap_days 0
        assert f.train[1] - f.train[0] == dt.timedelta(days=14)
    with pytest.raises(ConfigError, match="before the first transaction"):
        check_fold_data(folds[0], dt.datetime(2024, 2, 1, tzinfo=UTC))
    # backtest.end after the data: the windows hold nothing ('no fraud rows' named no fold)
    last = dt.datetime(2024, 2, 20, 23, 59, tzinfo=UTC)
    check_fold_data(folds[1], None, last)  # test starts 2024-02-16: inside the data
    with pytest.raises(ConfigError, match=r"fold 2: its test window starts 2024-02-23, after "
                       r"the last transaction \(2024-02-20 23:59:00\)\. Set backtest\.end"):  # fmt: skip
        check_fold_data(folds[2], None, last)


def test_a_train_window_that_starts_before_the_data_is_a_warning(caplog):
    """It trained on less history than configured without a word; its fold is then not
    comparable with the others."""
    import logging

    cfg = BacktestSection(folds=2, step_days=7, train_days=14, validation_days=7, test_days=7)
    folds = plan_folds(cfg, label_delay_days=5, data_end=dt.date(2024, 3, 1))
    first = dt.datetime(2024, 1, 28, 6, tzinfo=UTC)  # fold 0 trains from 2024-01-21
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_fold_data(folds[0], first)
        check_fold_data(folds[1], first)  # from 2024-01-28 00:00: also 6 hours short
    assert (
        "backtest fold 0: its train window starts 2024-01-21, before the first transaction "
        "(2024-01-28 06:00): it trains on 6.8 of its 14 days (backtest.train_days)"
    ) in caplog.text
    assert "fold 1: its train window starts 2024-01-28" in caplog.text
    caplog.clear()
    check_fold_data(folds[1], dt.datetime(2024, 1, 27, tzinfo=UTC))
    assert caplog.text == ""
    # a first transaction at 00:09 of the window's first day: it warned that the fold
    # "trains on 14.0 of its 14 days; its figures are not comparable" (seen in session 20)
    check_fold_data(folds[1], dt.datetime(2024, 1, 28, 0, 9, tzinfo=UTC))
    assert caplog.text == ""


def _day(d, rows):
    t = dt.datetime(2024, 1, d, 12, tzinfo=UTC)
    return [{"timestamp": t, "card_id": c, "label": y, "s": s} for c, y, s in rows]


def test_card_precision_leaves_out_cards_caught_on_earlier_days():
    df = pd.DataFrame(
        _day(1, [("A", 1, 0.9), ("B", 0, 0.8), ("C", 1, 0.1)])
        + _day(2, [("A", 1, 0.95), ("C", 1, 0.9), ("B", 0, 0.2)])
    )
    per_day = card_precision_at_k(df, "s", k=2)
    # day 1: top-2 = A (fraud), B -> 1/2; A is caught. day 2: A left out, top-2 = C (fraud), B -> 1/2
    assert per_day == [
        {"date": "2024-01-01", "precision": 0.5, "cards": 3},
        {"date": "2024-01-02", "precision": 0.5, "cards": 2},
    ]
    # without leaving A out, day 2 would be A, C = 2/2


def test_recall_at_the_daily_alert_budget():
    rows = _day(1, [(f"c{i}", int(i < 2), 1.0 - i / 10) for i in range(10)])
    rows += _day(2, [(f"d{i}", int(i == 9), 1.0 - i / 10) for i in range(10)])
    df = pd.DataFrame(rows)
    # budget 0.2: 2 alerts a day; day 1 catches both frauds, day 2 misses its only one
    assert daily_alert_recall(df, "s", 0.2) == pytest.approx(2 / 3)
    assert mean_std([0.5, 0.7]) == pytest.approx({"mean": 0.6, "std": 0.1414213562, "folds": 2})


def test_evaluate_backtest_and_dashboards_report_the_same_figures():
    """One frame through the three callers: the numbers must be the shared module's."""
    from dashboards.prep.metrics import card_precision_at_k as dashboard_cards
    from dashboards.prep.metrics import threshold_table
    from dlcore import daily_ranking
    from fraud_app.evaluation.ranking import fold_metrics
    from fraud_app.scoring.evaluation import evaluation_report
    from tests.dlcore.test_daily_ranking import _window

    dates, cards, labels, scores = _window(11)
    ts = pd.to_datetime(pd.Series(dates)).dt.tz_localize(dt.UTC) + pd.Timedelta(hours=13)
    frame = pd.DataFrame({"timestamp": ts, "card_id": cards, "label": labels, "s": scores})
    budget, k = 0.05, 7
    backtest = fold_metrics(frame, "s", budget=budget, k=k)
    evaluate = evaluation_report(labels=labels.astype(float), scores=scores, days=dates,
                                 cards=cards, patterns=None, budgets=(budget,), card_k=k,
                                 pattern_budget=budget)  # fmt: skip
    (row,) = threshold_table(labels, scores, dates, [budget], card_ids=cards)
    shared = daily_ranking.alert_budget(labels, scores, dates, budget)
    assert backtest["recall_at_budget"] == evaluate["alert_budgets"][0]["recall"] == row.recall
    assert evaluate["alert_budgets"][0] == shared
    assert (row.alerts, row.precision, row.threshold) == (
        shared["alerts"], shared["precision"], shared["threshold"])  # fmt: skip
    per_day = daily_ranking.card_precision_at_k(dates, cards, labels, scores, k)["per_day"]
    assert backtest["card_precision_per_day"] == evaluate["card_precision_at_k"]["per_day"]
    assert backtest["card_precision_per_day"] == per_day
    assert dashboard_cards(labels, scores, dates, cards, k) == per_day
    assert backtest["card_precision_at_k"] == evaluate["card_precision_at_k"]["mean"]


def test_a_test_window_that_runs_past_the_data_is_a_warning(caplog):
    """`--end` after the data, the test window starting within it: the fold scored the
    2.5 days the data held of its 7 without a word, its report giving the 7-day window."""
    import logging

    cfg = BacktestSection(folds=2, step_days=7, train_days=10, end=dt.date(2024, 3, 10))
    folds = plan_folds(cfg, label_delay_days=1, data_end=dt.date(2024, 3, 1))
    first, last = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 3, 5, 12, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_fold_data(folds[0], first, last)  # test 02-25 .. 03-03: within the data
        assert caplog.text == ""
        check_fold_data(folds[1], first, last)  # test 03-03 .. 03-10
    assert (
        "backtest fold 1: its test window (2024-03-03 00:00 .. 2024-03-10 00:00) runs past the "
        "data, whose last transaction is at 2024-03-05 12:00: it scores 3 of its 7 days; its "
        "figures are not comparable with the other folds'. Set backtest.end (--end) to "
        "2024-03-06 or earlier"
    ) in caplog.text
    caplog.clear()
    # the default end (the day after the last transaction): no warning
    folds = plan_folds(cfg.model_copy(update={"end": None}), label_delay_days=1,
                       data_end=last.date() + dt.timedelta(days=1))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        for fold in folds:
            check_fold_data(fold, first, last)
    assert caplog.text == ""


def test_overlapping_test_windows_are_a_warning(caplog):
    """step_days < test_days: rows counted in several folds, the std over folds too small."""
    import logging

    from fraud_app.evaluation.folds import check_test_overlap

    cfg = BacktestSection(folds=3, step_days=2, test_days=7, train_days=10)
    folds = plan_folds(cfg, label_delay_days=1, data_end=dt.date(2024, 3, 10))
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_test_overlap(folds)
    assert caplog.text.count("overlap") == 1
    assert (
        "backtest: the test windows of consecutive folds overlap by 5 day(s) (fold 0's "
        "2024-02-28 00:00 .. 2024-03-06 00:00 and fold 1's 2024-03-01 00:00 .. 2024-03-08 00:00; "
        "backtest.step_days 2 < test_days 7)"
    ) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_test_overlap(plan_folds(cfg.model_copy(update={"step_days": 7}),
                                      label_delay_days=1, data_end=dt.date(2024, 3, 10)))  # fmt: skip
    assert caplog.text == ""


@pytest.mark.parametrize("days", [1 / 7, 0.142857142857, 10 / 7, 1.224126502])
def test_equal_fractional_step_and_test_days_are_not_an_overlap(caplog, days):
    """step_days = test_days: consecutive test windows meet, they do not overlap. Each
    fold's offset (k x step_days) x day was rounded to the microsecond on its own, so
    with such values fold k+1's test window started 1 microsecond before fold k's ended
    and the overlap WARNING said `overlap by 0 day(s) ... step_days 0.142857 < test_days
    0.142857`."""
    import logging

    from fraud_app.evaluation.folds import check_test_overlap

    cfg = BacktestSection(folds=10, step_days=days, test_days=days, train_days=10)
    folds = plan_folds(cfg, label_delay_days=1, data_end=dt.date(2024, 3, 10))
    assert all(b.test[0] == a.test[1] for a, b in itertools.pairwise(folds))
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_test_overlap(folds)
    assert caplog.text == ""
