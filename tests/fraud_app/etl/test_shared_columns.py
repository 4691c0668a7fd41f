"""The rules' Columns built once per annotation (fraud_app.etl.shared_columns): the same
plan as Columns rebuilt for every detail, fewer JVM round trips, nothing kept after the
annotation (a Column belongs to its session's JVM)."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path

import pytest
from py4j.clientserver import ClientServerConnection

from fraud_app.config import load_config
from fraud_app.etl import labels, pipeline, rules
from fraud_app.etl.pipeline import annotate_rows
from fraud_app.etl.reader import read_input
from fraud_app.etl.rule_base import quoted_value
from fraud_app.etl.shared_columns import _memo, shared_columns

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label,label_time,channel,mcc\n"
ROWS = (
    "t1,c1,m1,2024-01-01T10:00:00,12.5,0,2024-01-20T10:00:00,POS,5812\n"
    "4.1E18,c1,N/A,2024-01-01T11:00:00,abc,1,2024-01-20T10:00:00,POS,5812.5\n"
    "t3,null,unknown,2024-01-01T12:00:00,1e400,x,2023-01-01T10:00:00,ATM,5.8E3\n"
)
KEY = "spark.sql.debug.maxToStringFields"  # the whole plan, not "... 12 more fields"


def _annotated(spark, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "part.csv").write_text(HEADER + ROWS)
    config = load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(folder)}}
    )
    raw, _ = read_input(spark, str(folder), config.etl)
    return annotate_rows(raw, config.etl, str(folder))


def _without_sharing(monkeypatch) -> None:
    """Every scope of the annotation off: each Column built anew, as before session 54."""
    for module in (pipeline, rules, labels):
        monkeypatch.setattr(module, "shared_columns", contextlib.nullcontext)


def _plan(df) -> str:
    """The analysed and optimised plans, without what differs from one analysis to the
    next: expression ids, the numbers of the optimiser's common expressions, the run's
    clock (etl.bounds.max_future_hours' bound)."""
    qe = df._jdf.queryExecution()
    plan = qe.analyzed().toString() + qe.optimizedPlan().toString()
    plan = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", plan)
    return re.sub(r"(#|_common_expr_)\d+L?", r"\1", plan)


def test_the_plan_is_the_one_rebuilt_columns_give(spark, tmp_path, monkeypatch) -> None:
    before = spark.conf.get(KEY, None)
    spark.conf.set(KEY, "10000")
    try:
        shared = _plan(_annotated(spark, tmp_path))
        _without_sharing(monkeypatch)
        rebuilt = _plan(_annotated(spark, tmp_path))
    finally:
        spark.conf.unset(KEY) if before is None else spark.conf.set(KEY, before)
    assert "inexact_id" in shared and "reason_detail" in shared
    assert shared == rebuilt


def test_the_rows_and_details_are_the_ones_rebuilt_columns_give(spark, tmp_path, monkeypatch):
    shared = sorted(map(tuple, _annotated(spark, tmp_path).collect()))
    _without_sharing(monkeypatch)
    rebuilt = sorted(map(tuple, _annotated(spark, tmp_path).collect()))
    assert shared == rebuilt
    assert len([r for r in shared if r[len(pipeline.CANONICAL_NAMES) + 1]]) == 2  # details


def _round_trips(build) -> int:
    main, send, calls = threading.main_thread(), ClientServerConnection.send_command, [0]

    def counted(self, *args, **kwargs):
        calls[0] += threading.current_thread() is main
        return send(self, *args, **kwargs)

    ClientServerConnection.send_command = counted
    try:
        build()
    finally:
        ClientServerConnection.send_command = send
    return calls[0]


def test_fewer_round_trips(spark, tmp_path, monkeypatch) -> None:
    _annotated(spark, tmp_path)  # warm: the reader's schema, py4j's classes
    shared = _round_trips(lambda: _annotated(spark, tmp_path))
    _without_sharing(monkeypatch)
    rebuilt = _round_trips(lambda: _annotated(spark, tmp_path))
    # base (each Column rebuilt): ~1,500 a delivery of these columns; ~400 fewer shared
    assert rebuilt - shared >= 300, (rebuilt, shared)


def test_nothing_is_kept_after_the_scope(spark) -> None:
    assert quoted_value("amount") is not quoted_value("amount")
    with shared_columns():
        first = quoted_value("amount")
        assert quoted_value("amount") is first
        assert quoted_value("card_id") is not first
        with shared_columns():  # a scope inside another shares its Columns
            assert quoted_value("amount") is first
        assert quoted_value("amount") is first
    assert _memo.get() is None
    assert quoted_value("amount") is not first
    with pytest.raises(ValueError, match="inside"), shared_columns():
        quoted_value("amount")
        raise ValueError("inside")
    assert _memo.get() is None
