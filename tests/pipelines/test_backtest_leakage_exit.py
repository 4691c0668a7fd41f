"""`backtest` with a test gap below the label delay (probe53a): every fold's leakage check
fails (the rows of the last days before a cut-off carry labels not settled then), which the
command found only after every fold had trained, then printed `leakage checks: FAILED` and
exited 1, the exit code of a bug, naming no cause. Now one WARNING says so before any fold
trains, and a failed check is an `error:` line naming the folds and the cause, exit 2."""

from __future__ import annotations

import logging

import pytest

from fraud_app.evaluation.config import BacktestSection
from fraud_app.evaluation.folds import check_settled_labels
from pipelines.backtest.report import leakage_error

WARNS = "every fold's leakage check fails"


@pytest.mark.parametrize(
    ("gap", "refit", "warns"),
    [
        (0.0, True, True),  # the refit trains on validation, which ends at the test start
        (3.0, True, True),
        (7.0, True, False),
        (None, True, False),  # null: the label delay
        (0.0, False, False),  # no refit: the train window ends validation_days (7) earlier
    ],
)
def test_a_test_gap_below_the_label_delay_is_named_before_any_fold_trains(
    caplog, gap, refit, warns
):
    cfg = BacktestSection(test_gap_days=gap, validation_days=7)
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_settled_labels(cfg, 7.0, refit=refit)
    said = [r.getMessage() for r in caplog.records if WARNS in r.getMessage()]
    assert bool(said) is warns
    if warns:
        assert f"backtest.test_gap_days {gap:g}" in said[0]
        assert "features.label_delay_days 7" in said[0] and "to 7 or more" in said[0]


def test_a_short_validation_window_without_refit_is_named_too(caplog):
    cfg = BacktestSection(test_gap_days=0.0, validation_days=2, validation_gap_days=1)
    with caplog.at_level(logging.WARNING, logger="fraud_app.evaluation.folds"):
        check_settled_labels(cfg, 7.0, refit=False)
    (line,) = [r.getMessage() for r in caplog.records if WARNS in r.getMessage()]
    assert "train window up to 3 day(s) before its cut-off" in line
    assert "rows of its last 4 day(s)" in line and "test_gap_days (--test-gap-days) to 4" in line


def _fold(i: int, ok: bool, settled: str) -> dict:
    return {
        "fold": i,
        "leakage_check": {
            "cutoff": "2024-02-25T00:00:00+00:00",
            "rows": 100,
            "max_timestamp": "2024-02-24T23:50:00.500000+00:00",
            "max_fraud_label_known_at": "2024-02-20T00:00:00+00:00",
            "max_label_settled_at": settled,
            "ok": ok,
        },
    }


def test_a_failed_leakage_check_is_an_error_line_naming_the_folds_and_the_cause():
    report = {
        "run": "gap0",
        "report_path": "/r/backtest-gap0.json",
        "folds": [
            _fold(0, True, "2024-02-25T00:00:00+00:00"),
            _fold(1, False, "2024-03-02T23:50:00.500000+00:00"),
        ],
    }
    line = leakage_error(report)
    assert line is not None and line.startswith(
        "backtest gap0: the leakage check failed in 1 of 2 fold(s): fold 1 (cut-off "
        "2024-02-25T00:00:00+00:00): labels settled after it (rows within the label delay of "
        "the cut-off: backtest.test_gap_days is below features.label_delay_days;"
    )
    assert line.endswith("the report /r/backtest-gap0.json holds them with each fold's "
                         "leakage_check")  # fmt: skip
    assert (
        leakage_error({"run": "ok", "folds": [_fold(0, True, "2024-02-24T00:00:00+00:00")]}) is None
    )


def test_rows_past_the_cut_off_are_named_as_such():
    fold = _fold(0, False, "2024-02-25T00:00:00+00:00")
    fold["leakage_check"]["max_timestamp"] = (
        "2024-02-25T00:00:00+00:00"  # at the cut-off: in the test
    )
    line = leakage_error({"run": "x", "report_path": "p", "folds": [fold]})
    assert "fold 0 (cut-off 2024-02-25T00:00:00+00:00): rows dated after it." in line
    assert "test_gap_days" not in line
