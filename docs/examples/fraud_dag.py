"""Airflow DAG: the fraud-app workflow as one task per step, all reading one config file.

Copy to your Airflow dags/ folder; set FRAUD_APP (the fraud-app executable of the
environment that holds the project), CONFIG and the Spark master for your cluster.
Each step is idempotent on its outputs (atomic swaps), so Airflow retries are safe; a
failed error-severity data check exits non-zero and stops the DAG before training.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

FRAUD_APP = "/opt/fraud-app/venv/bin/fraud-app"
CONFIG = "/etc/fraud/prod.yaml"
MASTER = "yarn"
ARCHIVE = "hdfs:///apps/fraud/env.tar.gz"  # from `fraud-app pack-env`; None on local masters
BASE = f"{FRAUD_APP} -c {CONFIG} --master {MASTER}" + (
    f" --env-archive {ARCHIVE}" if ARCHIVE else ""  # it passed `--env-archive None`
)

with DAG(
    dag_id="fraud_app_daily",
    schedule="0 2 * * *",  # 02:00 UTC, after the day's transactions land
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    max_active_runs=1,  # one writer per paths.root
    tags=["fraud"],
) as dag:
    steps = {
        "etl": "etl",
        "validate_canonical": "validate --table canonical",
        "features": "features",
        "validate_features": "validate --table features",
        # one run name per DAG run (Jinja, rendered by Airflow): a retried train task
        # resumes that run from its last checkpoint instead of training a new one from 0
        "train": "train --run daily-{{ ds_nodash }}",
    }
    previous = None
    for task_id, command in steps.items():
        task = BashOperator(task_id=task_id, bash_command=f"{BASE} {command}")
        if previous is not None:
            previous >> task
        previous = task
