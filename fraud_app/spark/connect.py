"""Spark Connect sessions (`SparkSession.builder.remote("sc://...")`): the one test of
"is this a Connect session", and the refusal of the steps that need a classic session.

A Connect client holds no JVM: no SparkContext, no RDDs (so no barrier tasks), no Py4J
(`_jvm`, `_jsc`: Hadoop's FileSystem API, broadcasts). DataFrame-only work (building a
plan, Arrow UDFs, reading and writing through `spark.read` / `df.write`) runs the same
on both. A step that needs the JVM calls `require_classic` first, so a Connect session
meets one error naming Spark Connect and what to do, before any Spark job, instead of
PySpark's `[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute sparkContext ...` or
`[NOT_IMPLEMENTED] rdd is not implemented` from deep inside the step.

This module owns the test, the refusals and `refuse_spark_remote` / `session_master` (get_spark's two Connect questions); which steps work under Connect is README's "Spark
Connect" section.
"""

from __future__ import annotations

import functools
import pickle
import re
import sys
from collections.abc import Callable
from typing import Any

from fraud_app.errors import EnvironmentSetupError, SparkConnectUnsupportedError
from fraud_app.uris import redacted

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


# A Connect server's limit on one request (its plan): spark.connect.grpc.maxInboundMessageSize,
# 128 MiB unless the server sets it. Values smaller than CHECK_FROM are not measured further.
MESSAGE_BYTES = 128 * 1024 * 1024
CHECK_FROM = 16 * 1024 * 1024
_PLAN_ROOM = 1024 * 1024  # the rest of the request: the plan, the UDF's code and schema
_SIZE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)


def is_connect(obj: Any) -> bool:
    """True when `obj` (a SparkSession, DataFrame or Column) belongs to Spark Connect.

    Spark Connect's classes live in `pyspark.sql.connect`; while that package is not
    imported no Connect object can exist, so a classic process never imports it (grpc and
    protobuf) for this test."""
    session_mod = sys.modules.get("pyspark.sql.connect.session")
    if session_mod is None:
        return False
    # a module another thread is still importing has not defined its class yet (seen in
    # the suite: "partially initialized module"): no object of that class exists either
    kinds = [getattr(session_mod, "SparkSession", None)]
    for name, attr in (
        ("pyspark.sql.connect.dataframe", "DataFrame"),
        ("pyspark.sql.connect.column", "Column"),
    ):
        kinds.append(getattr(sys.modules.get(name), attr, None))
    found = tuple(k for k in kinds if isinstance(k, type))
    return bool(found) and isinstance(obj, found)


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


def pickled_bytes(value: Any) -> int:
    """The bytes `value` takes pickled (as it travels inside a UDF); NumPy arrays counted
    out of band (pickle protocol 5), without a copy of their data."""
    buffers: list[int] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=lambda b: buffers.append(b.raw().nbytes))
    return len(head) + sum(buffers)


def check_inline_size(spark: Any, value: Any, what: str) -> None:
    """SparkConnectUnsupportedError when `value`, shipped inside a UDF's plan to the Connect
    server of `spark`, exceeds the server's request limit: the error names the sizes and
    what to do, before any request (else gRPC's limit stopped the action's request)."""
    size = pickled_bytes(value)
    if size < CHECK_FROM:
        return
    limit = _message_limit(spark)
    if size + _PLAN_ROOM > limit:
        raise SparkConnectUnsupportedError(
            f"{what} is {size / 2**20:.1f} MiB pickled; under Spark Connect it travels inside "
            f"the scoring UDF's plan (no broadcasts), and the server takes a request of at "
            f"most {limit / 2**20:.1f} MiB (spark.connect.grpc.maxInboundMessageSize). "
            "Raise that setting on the server, or score with a classic SparkSession or the "
            "CLI (`fraud-app score`), where the model is a broadcast"
        )


def _message_limit(spark: Any) -> int:
    """The server's spark.connect.grpc.maxInboundMessageSize in bytes (MESSAGE_BYTES when
    it does not say or cannot be asked)."""
    try:
        found = spark.conf.get("spark.connect.grpc.maxInboundMessageSize", None)
    except Exception:  # a server that does not answer it
        return MESSAGE_BYTES
    match = _SIZE.fullmatch(str(found).strip()) if found else None
    if match is None:
        return MESSAGE_BYTES
    return int(match.group(1)) * 1024 ** " kmg".index((match.group(2) or " ").lower())


def refuse_spark_remote(url: str | None) -> None:
    """EnvironmentSetupError when SPARK_REMOTE is set and get_spark is to build a session.

    PySpark's builder then makes a Spark Connect session (and refuses a master beside it:
    `[CANNOT_CONFIGURE_SPARK_CONNECT_MASTER]`, which the CLI printed as its error; under
    spark-submit, a Connect session that every step then refused). fraud_app builds the
    classic session its steps need and never silently switches: a Connect session is one
    the caller builds (`SparkSession.builder.remote(...)`), and get_spark returns it."""
    if url:
        raise EnvironmentSetupError(
            f"SPARK_REMOTE={redacted(url)} is set, so PySpark would start a Spark Connect "
            "session, and fraud_app's steps (ETL, features, training, the scoring jobs) "
            "need a classic SparkSession with the driver's JVM. Unset it for this command "
            "(`env -u SPARK_REMOTE fraud-app ...`); to use the Connect server from Python, "
            "build the session with SparkSession.builder.remote(url).getOrCreate() first "
            "(README, Spark Connect sessions)"
        )


def session_master(spark) -> str | None:
    """The master a running session was started on: its SparkContext's; a Spark Connect
    session has none on the client (`sparkContext` raised JVM_ATTRIBUTE_NOT_SUPPORTED
    inside get_spark), so the server's `spark.master` setting, None if it does not say."""
    if is_connect(spark):
        try:
            return spark.conf.get("spark.master", None)
        except Exception:  # a server that does not expose it to clients
            return None
    return spark.sparkContext.master
