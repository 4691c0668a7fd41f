"""Airflow DAGs: fraud-app's daily cycle and its weekly training, one task per step, all
reading one config file.

Copy to your Airflow dags/ folder; set FRAUD_APP (the fraud-app executable of the
environment that holds the project), CONFIG, the Spark master for your cluster and
DELIVERIES (where each day's export lands, one folder per date). Each step is idempotent on
its outputs (atomic swaps), so Airflow retries are safe; a failed error-severity data check
exits non-zero and stops the DAG before it scores or trains.

- `fraud_app_daily` (README, "Late-arriving transactions (the daily cycle)"): the day's
  delivery added to the canonical table (`etl --mode append`), the checks, the feature
  table (incremental), `score --date` of the day, and in the same task the dates an earlier
  job scored that late rows reached since (`unscored_dates`, needs `jq`) scored again. Late labels (chargebacks) are a
  `labels FEED` task before `features` where a feed exists.
- `fraud_app_weekly_train`: a new model from the feature table; the promotion gate moves
  `champion` (the model the daily `score` reads, `scoring.model`) only when it is better.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

FRAUD_APP = "/opt/fraud-app/venv/bin/fraud-app"
CONFIG = "/etc/fraud/prod.yaml"
MASTER = "yarn"
ARCHIVE = "hdfs:///apps/fraud/env.tar.gz"  # from `fraud-app pack-env`; None on local masters
DELIVERIES = "hdfs:///landing/fraud"  # the export of date D lands in {DELIVERIES}/D/
BASE = f"{FRAUD_APP} -c {CONFIG} --master {MASTER}" + (
    f" --env-archive {ARCHIVE}" if ARCHIVE else ""  # it passed `--env-archive None`
)
# `{{ ds }}` (Airflow's Jinja) is the date of the data interval: the run at 02:00 on D+1
# handles date D, whose transactions have landed by then
DAILY = {
    "etl": f"etl --mode append --input {DELIVERIES}/{{{{ ds }}}}/",
    "validate_canonical": "validate --table canonical",
    "features": "features",
    "validate_features": "validate --table features",
    # the day's scores, then the late rows of dates scored before (README, "Late-arriving
    # transactions"): `score` prints those dates as `unscored_dates`; each is scored again.
    # The dates are read into a variable first: a failure inside `for d in $(...)` is not
    # the loop's, so a missing jq passed the task and re-scored nothing
    "score": (
        "out=$({base} score --date {{{{ ds }}}} --job-id daily-{{{{ ds_nodash }}}}) && "
        'echo "$out" && dates=$(jq -r \'.unscored_dates | keys[]\' <<<"$out") && '
        'for d in $dates; do {base} score --date "$d" || exit $?; done'
    ),
}
WEEKLY = {
    # one run name per DAG run: a retried train task resumes that run from its last
    # checkpoint instead of training a new one from 0 (a finished run is refused)
    "train": "train --run weekly-{{ ds_nodash }}",
}


def _chain(dag: DAG, steps: dict[str, str]) -> None:
    previous = None
    for task_id, command in steps.items():
        command = command.format(base=BASE) if "{base}" in command else f"{BASE} {command}"
        task = BashOperator(task_id=task_id, bash_command=command, dag=dag)
        if previous is not None:
            previous >> task
        previous = task


common = {
    "start_date": dt.datetime(2026, 1, 1),
    "catchup": False,
    "default_args": {"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    "max_active_runs": 1,  # one writer per paths.root
    "tags": ["fraud"],
}
daily = DAG(dag_id="fraud_app_daily", schedule="0 2 * * *", **common)  # 02:00 UTC
_chain(daily, DAILY)
weekly = DAG(dag_id="fraud_app_weekly_train", schedule="0 4 * * 0", **common)  # Sundays
_chain(weekly, WEEKLY)
