"""The driver's cost of building the ETL's row annotation (fraud_app.etl.pipeline.annotate_rows,
which fires no Spark job): its Columns are ~1,400 F.* calls, and each looked its Scala
function up in the JVM (two py4j reflection round trips) before calling it, as did each
literal operand and each list of Columns. The lookups are remembered
(fraud_app.spark.jvm_functions, installed by every session the app starts or is handed:
ensure_utc); the plan built is the same (docs/PROBES.md, session 47, helper etlplan47)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.pipeline import annotate_rows
from fraud_app.etl.reader import read_input
from fraud_app.spark.session import ensure_utc

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label,label_time,channel\n"
ROWS = (
    "t1,c1,m1,2024-01-01T10:00:00,12.5,0,2024-01-20T10:00:00,POS\n"  # clean
    "t2,,m1,not a date,-3,7,,MOBILE\n"  # no card_id (the first rule broken)
)


class _Commands:
    """The py4j commands sent to the JVM while counting (the client's own `send_command`,
    through which every py4j call of this thread goes)."""

    def __init__(self, spark, monkeypatch):
        client = spark.sparkContext._gateway._gateway_client
        self.sent: list[str] = []
        self.on = False
        send = client.send_command

        def counted(command, *args, **kwargs):
            if self.on:
                self.sent.append(command.split("\n", 1)[0])
            return send(command, *args, **kwargs)

        monkeypatch.setattr(client, "send_command", counted)

    def of(self, call):
        self.sent.clear()
        self.on = True
        try:
            result = call()
        finally:
            self.on = False
        return result, list(self.sent)


def _annotated(spark, tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    (src / "part.csv").write_text(HEADER + ROWS)
    config = load_config(None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(src)}})
    raw, _ = read_input(spark, str(src), config.etl)
    return lambda: annotate_rows(raw, config.etl, str(src))


def test_a_function_is_looked_up_in_the_jvm_once(spark, monkeypatch) -> None:
    from pyspark.sql import functions as F

    ensure_utc(spark)  # what every step calls first: installs the memo
    commands = _Commands(spark, monkeypatch)

    def built():
        return F.when(F.col("a").isNull(), F.lit(1)).otherwise(F.upper(F.col("b")))

    built()  # each function looked up once, before counting
    _, sent = commands.of(lambda: [built() for _ in range(20)])
    # base (515faafb): 200 reflection commands, 2 per F.* call (the class, then the
    # method; 5 calls each time); memoised: none
    assert sent.count("r") == 0, sent
    assert sent.count("c") >= 100  # the calls themselves still go to the JVM


def test_the_annotation_is_built_with_fewer_round_trips_and_the_same_plan(
    spark, tmp_path, monkeypatch
) -> None:
    ensure_utc(spark)
    build = _annotated(spark, tmp_path)
    build()  # the memo filled, as by every run after a session's first
    commands = _Commands(spark, monkeypatch)
    annotated, sent = commands.of(build)
    # base (515faafb): 6,255 round trips, 2,276 of them reflection, 1,598 memory
    # releases (as Python's garbage collector frees py4j objects: left out, their number
    # varies); memoised: 4,074 / 0 / 1,693
    work = [c for c in sent if c != "m"]
    assert sent.count("r") < 100, len(sent)
    assert len(work) < 3_000, len(work)  # base 4,657
    rows = [r.asDict() for r in annotated.collect()]
    assert [(r["reason"], r["transaction_id"]) for r in rows] == [
        (None, "t1"), ("missing_required_field", "t2"),
    ]  # fmt: skip


def test_the_memo_builds_the_plan_pyspark_builds(spark, tmp_path) -> None:
    from fraud_app.spark import jvm_functions

    ensure_utc(spark)
    build = _annotated(spark, tmp_path)
    key = "spark.sql.debug.maxToStringFields"  # the whole plan, not "... 12 more fields"
    spark.conf.set(key, "10000")
    try:
        plans = {}
        for memo in (False, True):
            if memo:
                jvm_functions.install(spark)
            else:
                jvm_functions.uninstall(spark)
            annotated = build()
            plans[memo] = (annotated._jdf.queryExecution().analyzed().toString(),
                           sorted(map(str, annotated.collect())))  # fmt: skip
    finally:
        spark.conf.unset(key)
        jvm_functions.install(spark)

    # the analysed plans name their expressions by id (#123) and hold the run's clock
    # (timestamp_in_future: the time the plan was built, + max_future_hours): the same
    # once the ids are renumbered and the times left out
    def renumbered(plan: str) -> str:
        ids: dict[str, str] = {}
        plan = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", plan)
        return re.sub(r"#\d+L?", lambda m: ids.setdefault(m.group(0), f"#{len(ids)}"), plan)

    assert renumbered(plans[False][0]) == renumbered(plans[True][0])
    assert plans[False][1] == plans[True][1]
