"""The session's defaults: Columns are built without PySpark's call-site capture."""

from __future__ import annotations

import gc
import threading

import py4j.clientserver
import py4j.java_gateway
import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

pytestmark = pytest.mark.spark


def _round_trips(monkeypatch, build) -> int:
    """Py4J commands this thread sends while `build()` runs (every connection class counts
    them). Not counted: another thread's calls, and the object-release commands that a
    garbage collection of earlier tests' JVM handles would send in the middle of `build`."""
    calls = []
    me = threading.get_ident()
    for cls in (py4j.java_gateway.GatewayConnection, py4j.clientserver.ClientServerConnection):
        original = cls.send_command

        def counted(self, command, *args, _original=original, **kwargs):
            if threading.get_ident() == me:
                calls.append(command[:1])
            return _original(self, command, *args, **kwargs)

        monkeypatch.setattr(cls, "send_command", counted)
    gc.collect()
    gc.disable()
    try:
        build()
    finally:
        gc.enable()
    return len(calls)


def test_columns_are_built_without_the_call_site_capture(spark, monkeypatch):
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"

    def build():
        col = F.col("a")
        return F.when(col.isNull(), F.lit(1.0)).otherwise(col).cast("double").alias("b")

    build()  # the first call resolves the JVM classes
    # 14 round trips without the capture; with it, ~20 more per function (~100 here)
    assert _round_trips(monkeypatch, build) <= 30


def test_errors_still_name_what_was_wrong(spark):
    df = spark.createDataFrame([(1,)], "a int")
    with pytest.raises(AnalysisException, match="nope"):
        df.select(F.col("nope")).collect()


def test_the_local_driver_jvm_runs_the_parallel_collector(spark):
    """get_spark started the test session's JVM with LOCAL_DRIVER_JAVA_OPTIONS, and the JVM
    took it (its garbage collectors are the parallel collector's, not G1's)."""
    from fraud_app.spark.session import LOCAL_DRIVER_JAVA_OPTIONS

    mf = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    assert LOCAL_DRIVER_JAVA_OPTIONS in list(mf.getRuntimeMXBean().getInputArguments())
    collectors = sorted(b.getName() for b in mf.getGarbageCollectorMXBeans())
    assert collectors == ["PS MarkSweep", "PS Scavenge"], collectors


@pytest.mark.parametrize(
    ("master", "conf", "submitted", "expected"),
    [
        ("local[2]", {}, None, "-XX:+UseParallelGC"),
        ("local", {}, None, "-XX:+UseParallelGC"),
        ("local[*]", {"spark.driver.extraJavaOptions": "-Dx=1"}, None, "-Dx=1"),
        ("spark://h:7077", {}, None, None),
        ("local-cluster[2,1,1024]", {}, None, None),
        ("local[2]", {}, {"spark.master": "local[2]"}, None),
    ],
)
def test_the_parallel_collector_on_a_local_master_unless_the_config_sets_java_options(
    master, conf, submitted, expected
):
    from fraud_app.spark.session import with_local_java_options

    got = with_local_java_options(master, conf, submitted)
    assert got.get("spark.driver.extraJavaOptions") == expected
