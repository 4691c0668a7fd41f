"""Spark Connect sessions (`SparkSession.builder.remote("sc://...")`): the one test of
"is this a Connect session", and the refusal of the steps that need a classic session.

A Connect client holds no JVM: no SparkContext, no RDDs (so no barrier tasks), no Py4J
(`_jvm`, `_jsc`: Hadoop's FileSystem API, broadcasts). DataFrame-only work (building a
plan, Arrow UDFs, reading and writing through `spark.read` / `df.write`) runs the same
on both. A step that needs the JVM calls `require_classic` first, so a Connect session
meets one error naming Spark Connect and what to do, before any Spark job, instead of
PySpark's `[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute sparkContext ...` or
`[NOT_IMPLEMENTED] rdd is not implemented` from deep inside the step.

This module owns the test only; which steps work under Connect is README's "Spark
Connect" section.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from fraud_app.errors import SparkConnectUnsupportedError

# What to use instead, said once: a classic session in this process, or the CLI.
INSTEAD = (
    "Run it with a classic SparkSession (SparkSession.builder.master(...).getOrCreate(), or "
    "fraud_app.spark.session.get_spark, in a Python process where no Spark Connect session "
    "was created and SPARK_REMOTE is unset), or with the CLI (`fraud-app ...` or "
    "spark-submit on the cluster)"
)


# What the refused steps use of a classic session, named in the error.
BARRIER = "barrier tasks over RDDs and the SparkContext (the distributed trainer)"
FILE_SYSTEM = "Hadoop's FileSystem API through the driver's JVM (Py4J: listings, renames, locks)"


def is_connect(obj: Any) -> bool:
    """True when `obj` (a SparkSession, DataFrame or Column) belongs to Spark Connect.

    Spark Connect's classes live in `pyspark.sql.connect`; while that package is not
    imported no Connect object can exist, so a classic process never imports it (grpc and
    protobuf) for this test."""
    session_mod = sys.modules.get("pyspark.sql.connect.session")
    if session_mod is None:
        return False
    kinds: list[type] = [session_mod.SparkSession]
    for name, attr in (
        ("pyspark.sql.connect.dataframe", "DataFrame"),
        ("pyspark.sql.connect.column", "Column"),
    ):
        module = sys.modules.get(name)
        if module is not None:
            kinds.append(getattr(module, attr))
    return isinstance(obj, tuple(kinds))


def require_classic(obj: Any, what: str, needs: str) -> None:
    """Raise SparkConnectUnsupportedError when `obj` (a session or DataFrame) is Spark
    Connect's. `what`: the step (`DlcoreClassifier.fit`); `needs`: what of a classic
    session it uses (`barrier tasks over RDDs`)."""
    if is_connect(obj):
        raise SparkConnectUnsupportedError(
            f"{what} needs a classic SparkSession: it uses {needs}, which a Spark Connect "
            f"session (SparkSession.builder.remote(...)) does not offer. {INSTEAD}"
        )


def classic_only(what: str, needs: str) -> Callable:
    """Decorator for a step `fn(spark, ...)`: `require_classic(spark, what, needs)` before
    anything else the step or its other decorators do (the session's settings, locks,
    a run's name claimed)."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(spark, *args, **kwargs):
            require_classic(spark, what, needs)
            return fn(spark, *args, **kwargs)

        return inner

    return wrap
