"""What shipping the Python environment costs: spark-submit -> first training group.

On a real standalone cluster (master + 2 workers, 1 core each, 127.0.0.1), `fraud-app
train` is submitted with `spark-submit` three times on the same feature table:

- archive, run 1 and run 2: executors get the environment from `fraud-app pack-env`'s
  archive (`--archives env.tar.gz#environment`); every application unpacks it again in
  its executors' directories (standalone has no cross-application cache);
- peer, preinstalled: the workers' PYSPARK_PYTHON is this venv's interpreter (the
  environment already installed on every node at the same path, the usual alternative).

Figures: seconds from starting spark-submit to the first "group N: iterations" progress line of
the driver, and to the end of the job; `env_shipping_seconds_to_first_group` and the ratio
`archive_vs_preinstalled_time_to_first_group` (>= 1: what shipping costs).

    python bench/submit.py [--archive env.tar.gz] [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

FIRST_GROUP = re.compile(r" group \d+: iterations ")  # the trainer's progress line
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.spark_standalone import LOOPBACK, StandaloneCluster  # noqa: E402


def write_config(root: Path, rows: int) -> Path:
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    data["paths"]["root"] = str(root / "work")
    data["spark"] = {"conf": {"spark.sql.shuffle.partitions": "2"}}
    data["generate"].update(n_transactions=rows, n_cards=rows // 10, n_merchants=rows // 50)
    data["balancing"]["unionpay_subsets"]["n_subsets"] = 1
    data["training"]["distributed"]["epochs"] = 2
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(config: Path, *args: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "pipelines", "-c", str(config), "--master", "local[2]", *args]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=1200)


def submit(cluster, config: Path, run: str, python_conf: list[str], env) -> dict[str, float]:
    spark_submit = Path(cluster.spark_home) / "bin" / "spark-submit"
    cmd = [
        str(spark_submit),
        "--master",
        cluster.master_url,
        *python_conf,
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        str(REPO / "pipelines" / "__main__.py"),
        "-c",
        str(config),
        "train",
        "--run",
        run,
    ]
    t0 = time.monotonic()
    first = None
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-40:], line]
        if first is None and FIRST_GROUP.search(line):
            first = time.monotonic() - t0
    rc = proc.wait(timeout=1200)
    if rc != 0 or first is None:
        raise SystemExit(f"spark-submit {run} exited {rc}:\n{''.join(tail)}")
    return {"to_first_group_s": round(first, 2), "total_s": round(time.monotonic() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", help="an existing pack-env archive (default: pack one now)")
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(SPARK_LOCAL_IP=LOOPBACK, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable)
    config = write_config(tmp, args.rows)
    for step in (("generate",), ("etl",), ("features",)):
        cli(config, *step, env=env)
    t0 = time.monotonic()
    if args.archive:
        archive, pack_s = Path(args.archive), None
    else:
        from fraud_app.deploy import pack_environment

        archive = pack_environment(tmp / "env.tar.gz")
        pack_s = round(time.monotonic() - t0, 1)
    results = {}
    submit_env = {k: v for k, v in env.items() if k != "PYSPARK_PYTHON"}
    with StandaloneCluster(tmp / "spark", python="/nonexistent/python", workers=2) as cluster:
        shipped = [
            "--archives",
            f"{archive}#environment",
            "--conf",
            "spark.pyspark.python=./environment/bin/python",
        ]
        results["archive_run1"] = submit(cluster, config, "a1", shipped, submit_env)
        results["archive_run2"] = submit(cluster, config, "a2", shipped, submit_env)
        pre = ["--conf", f"spark.pyspark.python={sys.executable}"]
        results["preinstalled"] = submit(cluster, config, "p1", pre, submit_env)
    archive_first = (
        results["archive_run1"]["to_first_group_s"] + results["archive_run2"]["to_first_group_s"]
    ) / 2
    figures = {
        "bench": "submit",
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m_start": round(load0, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "rows": args.rows,
        "archive_mb": round(archive.stat().st_size / 1e6),
        "pack_seconds": pack_s,
        **{f"{k}_{m}": v for k, r in results.items() for m, v in r.items()},
        "env_shipping_seconds_to_first_group": round(
            archive_first - results["preinstalled"]["to_first_group_s"], 2
        ),
        "archive_vs_preinstalled_time_to_first_group": round(
            archive_first / results["preinstalled"]["to_first_group_s"], 3
        ),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
