"""SparkSession factory: one place that knows how we configure Spark.

Works unchanged on `local[*]`, `spark://...`, YARN and Kubernetes: the master
comes from config/CLI; everything else has laptop-friendly defaults that a
user's `spark_conf` overrides.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from fraud_app import settings
from fraud_app.errors import ConfigError, EnvironmentSetupError

logger = logging.getLogger(__name__)

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Fail within ~2 min (Spark's default: 40 x 15 s) when a barrier stage needs more task
    # slots than the cluster has, leaving executors that register slowly time to arrive.
    "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "5s",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "24",
    "spark.driver.memory": "4g",
}


MASTER_URL = re.compile(
    r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|yarn"
    r"|(spark|k8s|mesos)://\S+"
)


def check_master(master: str) -> str:
    """`master` if it has the form of a Spark master URL, else a ConfigError saying which forms do."""
    if not MASTER_URL.fullmatch(master):
        raise ConfigError(
            f"spark.master {master!r} is not a Spark master URL; expected local[*], local[N], "
            "spark://host:7077, yarn or k8s://https://host:port. Set spark.master in the config "
            "or pass --master"
        )
    return master


def get_spark(
    master: str | None = None,
    app_name: str = "fraud-app",
    conf: Mapping[str, str] | None = None,
):
    """Return the active SparkSession or build one (master: arg > env > local[*])."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings.java_version()  # clear error when Java is missing
    for key, value in settings.python_env_for_spark().items():
        os.environ.setdefault(key, value)
    master = check_master(master or settings.spark_master_default() or "local[*]")
    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4J/JVM start-up errors: one line naming the master
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EnvironmentSetupError(
            f"Spark could not start on master {master!r}: {first}. Check spark.master / "
            "--master and spark.conf in the config"
        ) from exc
    spark.sparkContext.setLogLevel("WARN")
    logger.info("Spark %s session on %s", spark.version, master)
    return spark
