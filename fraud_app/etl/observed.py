"""The values of a `DataFrame.observe` on an ETL write, waited for with a deadline.

An observation's aggregates are computed in the write's own tasks and reported when it
ends: no Spark job of their own (fraud_app.etl.stage_summary: the staged input's checks;
fraud_app.etl.quarantine_counts: the quarantine's rows per reason). `Observation.get`
waits without a deadline; pyspark 4.0 and 4.1 (pyproject allows them) complete it from a
QueryExecutionListener on the asynchronous listener bus (a slow listener delays it, a
dropped event never gives it: SPARK-55037 moved the completion into the query's thread,
as 4.3 does), and 4.0 releases before SPARK-54620 never complete one whose
CollectMetricsExec the optimizer removed. Past the deadline the caller asks its rows.
"""

from __future__ import annotations

import logging
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import Observation

logger = logging.getLogger(__name__)

# How long an observation may take to arrive once its write has returned.
OBSERVED_WAIT_S = 60.0


def observed_values(
    observation: Observation, wait_s: float, what: str, instead: str
) -> dict[str, Any]:
    """The observation's values once Spark has reported them (empty when the plan lost its
    observation), waiting at most `wait_s` seconds: {} past that, with a WARNING naming
    `what` was observed and what is done `instead` (session 41 review: `observation.get`
    alone had no deadline)."""
    jvm = observation._jvm  # set by DataFrame.observe (classic Spark: run_etl is classic_only)
    if jvm is None:
        raise ValueError("observed_values(): the observation is not attached to a DataFrame")
    deadline = jvm.scala.concurrent.duration.Duration.apply(max(1, round(wait_s * 1000)), "ms")
    try:
        jvm.scala.concurrent.Await.ready(observation._jo.future(), deadline)
    except Py4JJavaError as exc:
        if "TimeoutException" not in exc.java_exception.getClass().getName():
            raise
        logger.warning(
            "ETL: Spark had not reported %s %g s after its write ended (a listener bus that "
            "lags or dropped the event: Spark then logs 'Dropping event from queue'); %s",
            what, wait_s, instead,
        )  # fmt: skip
        return {}
    return observation.get
