"""`evaluate` from a small driver: the window's rows stay on the executors.

It collected every row's label, score, date, card and pattern (`toArrow`, ~50 bytes a row
serialised, ~650 in the driver's Python): 60,000 rows past `spark.driver.maxResultSize: 1m`
failed with Spark's "Total size of serialized results of 2 tasks (3.1 MiB) is bigger than
spark.driver.maxResultSize (1024.0 KiB)" (a Py4JJavaError), so a year of a bank's rows
needed a driver as large as the window. Now the driver receives per-date and per-partition
sums (fraud_app.evaluation.spark_window). Real Spark in its own process (the cap is fixed
when the JVM starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]


def test_a_window_larger_than_the_drivers_result_cap_is_evaluated(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}  # fmt: skip
    job = ROOT / "tests" / "fraud_app" / "scoring" / "small_driver_job.py"
    done = subprocess.run([sys.executable, str(job), str(tmp_path), "60000"], env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"rows": 60000, "days": 10}
