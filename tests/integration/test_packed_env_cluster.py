"""`fraud-app run` on a real standalone cluster whose workers lack the project's Python.

The workers' own PYSPARK_PYTHON names an interpreter that does not exist, so every
Python task must run the interpreter of the archive made by `fraud-app pack-env`, which
Spark ships with spark.archives and unpacks in each executor's directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.errors import EnvironmentSetupError
from fraud_app.settings import java_version
from tests.integration.spark_standalone import LOOPBACK, StandaloneCluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
NO_PYTHON = "/nonexistent/python-of-the-workers"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("env") / "env.tar.gz"
    from fraud_app.deploy import pack_environment

    return pack_environment(out)


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory):
    try:
        java_version()
    except EnvironmentSetupError as exc:
        pytest.skip(f"a Spark standalone cluster needs Java: {exc}")
    cluster = StandaloneCluster(
        tmp_path_factory.mktemp("spark"), python=NO_PYTHON, workers=2, cores=1, memory="1g"
    )
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_run_on_a_cluster_with_the_packed_environment(archive, bare_cluster, tmp_path):
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    data["paths"]["root"] = str(tmp_path / "work")
    data["spark"] = {"conf": {"spark.sql.shuffle.partitions": "2", "spark.executor.memory": "768m"}}
    data["generate"].update(n_transactions=8000, n_cards=1000, n_merchants=200, fraud_rate=0.01)
    data["balancing"]["unionpay_subsets"]["n_subsets"] = 2
    data["training"]["distributed"]["epochs"] = 3
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(SPARK_LOCAL_IP=LOOPBACK, PYTHONPATH=str(REPO))
    cmd = [
        sys.executable,
        "-m",
        "pipelines",
        "-c",
        str(config),
        "--master",
        bare_cluster.master_url,
        "--env-archive",
        str(archive),
        "run",
        "--generate",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"fraud-app run did not finish in 900 s:\n{out[-6000:]}")
    assert proc.returncode == 0, out[-6000:]
    assert "trained an ensemble" in out
    unpacked = list((bare_cluster.root / "work").glob("worker-*/app-*/*/environment/bin/python"))
    assert len({p.parents[4] for p in unpacked}) == 2, unpacked  # both workers unpacked it
