"""Reading the label ledger (`<table>/_labels_ledger/`, a folder whose name starts with "_")
logs no Spark warning: read as a folder, Spark logged `WARN DataSource: All paths were
ignored` on every labels run and every rebuild, for a ledger it then read whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys
    from pyspark.sql import SparkSession
    from fraud_app.etl.fs import HadoopFs
    from fraud_app.etl.ledger import LEDGER_DDL, ledger_path, read_ledger

    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    table = sys.argv[1]
    row = ("t1", 1, None, "feed.csv", "job1", None, "fill", None, None)
    spark.createDataFrame([row], LEDGER_DDL).write.parquet(ledger_path(table))
    ledger = read_ledger(spark, HadoopFs(spark), table)
    print("ENTRIES", ledger.count(), ledger.first().transaction_id)
    """
)


def test_the_ledger_is_read_without_a_spark_warning(tmp_path):
    # the child's cold JVM ends after two small jobs: its JIT C1 only (spark-submit puts
    # SPARK_SUBMIT_OPTS on the driver JVM's command line, silently), C2's compiling would be
    # all cost; the tier cannot change a result or a log line (session 50, docs/PROBES.md)
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_SUBMIT_OPTS="-XX:TieredStopAtLevel=1")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "canonical")],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ENTRIES 1 t1" in done.stdout
    assert "All paths were ignored" not in done.stderr, done.stderr[-2000:]
