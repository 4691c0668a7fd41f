"""Under spark-submit, its --master and --conf win over the config file (docs/DEPLOY.md).

A real `spark-submit` (pyspark's own launcher, local master) runs a driver script that
builds the session with `get_spark`, as the CLI does, and prints what Spark runs with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a JVM of its own: ~20-40 s

ROOT = Path(__file__).resolve().parents[3]
DRIVER = """
import json, logging
logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
from fraud_app.spark.session import get_spark
spark = get_spark("local[1]", "submit-test", {
    "spark.sql.shuffle.partitions": "3",     # also given to spark-submit: its 7 wins
    "spark.sql.files.maxRecordsPerFile": "11",  # only in the config: applied
})
conf = spark.conf
print("RESULT " + json.dumps({
    "master": spark.sparkContext.master,
    "shuffle": conf.get("spark.sql.shuffle.partitions"),
    "memory": conf.get("spark.driver.memory"),
    "records": conf.get("spark.sql.files.maxRecordsPerFile"),
    "tz": conf.get("spark.sql.session.timeZone"),
}))
spark.stop()
"""


def test_spark_submit_values_win_over_the_config_and_the_defaults(tmp_path):
    import pyspark

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    out = subprocess.run(
        [str(submit), "--master", "local[2]", "--driver-memory", "1g",
         "--conf", "spark.sql.shuffle.partitions=7", "--conf", "spark.ui.enabled=false",
         str(script)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    got = json.loads(lines[-1].removeprefix("RESULT "))
    # before: shuffle 3 (the config's value over spark-submit's --conf), memory 4g (the
    # app's default over --driver-memory, while the JVM ran with 1g)
    assert got == {"master": "local[2]", "shuffle": "7", "memory": "1g", "records": "11",
                   "tz": "UTC"}  # fmt: skip
    logs = out.stderr + out.stdout
    assert "spark-submit's --master local[2] wins over the configured local[1]" in logs
    assert (
        "spark-submit's spark.sql.shuffle.partitions=7 wins over spark.conf in the config (3)"
        in logs
    )
