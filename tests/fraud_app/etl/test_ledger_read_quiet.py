"""Reading the label ledger (`<table>/_labels_ledger/`, a folder whose name starts with "_")
logs no Spark warning: read as a folder, Spark logged `WARN DataSource: All paths were
ignored` on every labels run and every rebuild, for a ledger it then read whole.

The tests' own session, its Spark log caught by an appender added to log4j's root logger
for the test (session 52: a child process with a JVM of its own cost ~40 s of CI for one
row); the same folder read as a path first shows the appender sees the warning."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.ledger import LEDGER_DDL, ledger_path, read_ledger

pytestmark = pytest.mark.spark


@contextmanager
def _spark_log(spark):
    """A StringWriter holding what the JVM's log4j loggers log at WARN and above."""
    jvm = spark.sparkContext._jvm
    core = jvm.org.apache.logging.log4j.core
    ctx = jvm.org.apache.logging.log4j.LogManager.getContext(False)
    config = ctx.getConfiguration()
    writer = jvm.java.io.StringWriter()
    layout = core.layout.PatternLayout.newBuilder().withPattern("%p %c: %m%n").build()
    appender = (
        core.appender.WriterAppender.newBuilder()
        .setName("fraud-app-tests-ledger-read").setTarget(writer).setLayout(layout).build()
    )  # fmt: skip
    appender.start()
    root = config.getRootLogger()
    root.addAppender(appender, jvm.org.apache.logging.log4j.Level.WARN, None)
    ctx.updateLoggers()
    try:
        yield writer
    finally:
        root.removeAppender("fraud-app-tests-ledger-read")
        ctx.updateLoggers()
        appender.stop()


def test_the_ledger_is_read_without_a_spark_warning(spark, tmp_path):
    table = str(tmp_path / "canonical")
    row = ("t1", 1, None, "feed.csv", "job1", None, "fill", None, None)
    spark.createDataFrame([row], LEDGER_DDL).write.parquet(ledger_path(table))
    with _spark_log(spark) as log:
        # the folder read as a path: the warning, caught (the appender sees it)
        assert spark.read.schema(LEDGER_DDL).parquet(ledger_path(table)).count() == 1
        assert "All paths were ignored" in log.toString(), log.toString()
        log.getBuffer().setLength(0)
        ledger = read_ledger(spark, HadoopFs(spark), table)
        assert (ledger.count(), ledger.first().transaction_id) == (1, "t1")
        assert "All paths were ignored" not in log.toString(), log.toString()
