"""Which Spark fraud-app runs on: checked before the JVM starts and once it has.

Tested (docs/DEPLOY.md section 6): pyspark 4.0.5, 4.1.4, 4.2.1 and 4.3.0 (the pin of
`make test`). Spark 3.5 is refused: its pyspark cannot install beside numpy 2 (its `ml`,
`mllib` and `connect` extras want numpy < 2), and a 3.5 JVM started by pyspark 4 fails
inside the session builder with `TypeError: 'JavaPackage' object is not callable`.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from fraud_app.errors import EnvironmentSetupError

logger = logging.getLogger(__name__)

MIN_SPARK = (4, 0)
TESTED = "4.0.5, 4.1.4, 4.2.1, 4.3.0"
_ADVICE = (
    f"fraud-app needs Spark >= {MIN_SPARK[0]}.{MIN_SPARK[1]} (tested: {TESTED}; "
    "docs/DEPLOY.md section 6)"
)


def major_minor(version: str) -> tuple[int, int]:
    """(4, 1) of '4.1.4', '4.1.0.dev1' or '3.5.1-amzn-0'; ValueError for anything else."""
    m = re.match(r"\s*(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Spark version: {version!r}")
    return int(m.group(1)), int(m.group(2))


def check_spark_version(version: str, what: str) -> None:
    """Raise EnvironmentSetupError when `version` (of `what`) is older than MIN_SPARK."""
    if major_minor(version) < MIN_SPARK:
        raise EnvironmentSetupError(f"this Spark is {version} ({what}); {_ADVICE}")


def spark_home_version(home: str) -> str | None:
    """The Spark version of the installation at `home` (its jars/spark-core_<scala>-<v>.jar),
    or None when it has no such jar (not a Spark installation, or an unusual layout)."""
    for jar in sorted(glob.glob(os.path.join(home, "jars", "spark-core_*-*.jar"))):
        m = re.match(r"spark-core_[\d.]+-(.+)\.jar$", os.path.basename(jar))
        if m and not m.group(1).endswith(("tests", "sources")):
            return m.group(1)
    return None


def check_before_start(pyspark_version: str, spark_home: str | None) -> None:
    """Before the JVM starts: this interpreter's pyspark, and the Spark that SPARK_HOME
    names (pyspark launches that one's spark-submit when SPARK_HOME is set)."""
    check_spark_version(pyspark_version, "the pyspark this Python imports")
    if not spark_home:
        return
    jvm = spark_home_version(spark_home)
    if jvm is None:
        return
    check_spark_version(jvm, f"SPARK_HOME={spark_home}")
    if major_minor(jvm) != major_minor(pyspark_version):
        logger.warning(
            "SPARK_HOME=%s is Spark %s but this Python's pyspark is %s: Spark supports only "
            "matching versions; build the environment with pyspark==%s (docs/DEPLOY.md "
            "section 6)",
            spark_home,
            jvm,
            pyspark_version,
            jvm,
        )


def check_session(spark) -> None:
    """After the session starts (or for one that already runs): the JVM's Spark version."""
    check_spark_version(spark.version, "the JVM of the SparkSession")
