"""The scheduling examples (docs/DEPLOY.md's cron script, docs/examples/fraud_dag.py) run the
daily cycle the README describes ("Late-arriving transactions (the daily cycle)": `etl --mode
append`, `features`, `score --date D`, then the `unscored_dates` scored again), and every
fraud-app command they hold is one the CLI parses. Before session 37 the example DAG, named
`fraud_app_daily`, trained every day and scored nothing, and the cron example ran `run` every
night: the whole workflow, whose `score` covers the new model's test window, never the new day.

Airflow is not installed here: the DAG file runs against a recorder of its DAG and
BashOperator calls (the file's own code, the commands it builds, are what is checked)."""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pytest

from pipelines.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DAY = {"{{ ds }}": "2026-01-05", "{{ ds_nodash }}": "20260105"}


def _fraud_app_args(command: str, executable: str) -> list[list[str]]:
    """The argument lists of every `executable ...` call in one shell command line."""
    for jinja, value in DAY.items():
        command = command.replace(jinja, value)
    command = command.replace('"$d"', "2026-01-04")  # a date of `unscored_dates`
    calls = []
    for part in command.split(executable)[1:]:
        part = re.split(r"\)|&&|\|\||;|\|", part, maxsplit=1)[0]
        calls.append(shlex.split(part))
    return calls


def _subcommands(calls: list[list[str]]) -> list:
    parser = build_parser()
    return [parser.parse_args(args) for args in calls]


def _daily_cycle(parsed: list) -> None:
    names = [args.command for args in parsed]
    assert "etl" in names and "features" in names and "score" in names, names
    etl = parsed[names.index("etl")]
    assert etl.mode == "append", "the day's delivery is appended, not the table replaced"
    assert names.index("etl") < names.index("features") < names.index("score"), names
    scores = [args for args in parsed if args.command == "score"]
    assert len(scores) >= 2, "the day's score, then the unscored dates scored again"
    assert all(args.date for args in scores), "score --date D"
    assert "run" not in names, "`run` retrains and scores the test window, not the new day"


class _Recorder:
    """Stands in for airflow's DAG / BashOperator: records the tasks the file builds."""

    dags: dict[str, list[str]] = {}

    class DAG:
        def __init__(self, dag_id, **kwargs):
            self.dag_id = dag_id
            _Recorder.dags[dag_id] = []

        def __enter__(self):
            _Recorder.current = self
            return self

        def __exit__(self, *exc):
            _Recorder.current = None

    class BashOperator:
        def __init__(self, task_id, bash_command, dag=None):
            dag = dag or _Recorder.current
            _Recorder.dags[dag.dag_id].append(bash_command)

        def __rshift__(self, other):
            return other


@pytest.fixture
def dag_file(monkeypatch):
    _Recorder.dags = {}
    airflow = types.ModuleType("airflow")
    airflow.DAG = _Recorder.DAG
    operators = types.ModuleType("airflow.operators")
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = _Recorder.BashOperator
    for name, module in (("airflow", airflow), ("airflow.operators", operators),
                         ("airflow.operators.bash", bash)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, module)
    path = ROOT / "docs" / "examples" / "fraud_dag.py"
    namespace: dict = {"__name__": "fraud_dag"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace, _Recorder.dags


def test_the_example_dag_runs_the_readmes_daily_cycle(dag_file):
    namespace, dags = dag_file
    executable = namespace["FRAUD_APP"]
    calls = [call for command in dags["fraud_app_daily"]
             for call in _fraud_app_args(command, executable)]  # fmt: skip
    _daily_cycle(_subcommands(calls))
    trains = [args for dag, commands in dags.items() for command in commands
              for args in _subcommands(_fraud_app_args(command, executable))
              if args.command == "train"]  # fmt: skip
    assert trains and all(args.run for args in trains), "a train run named after the DAG run"


def test_the_deploy_cron_script_runs_the_readmes_daily_cycle():
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    section = text.split("## 7. Scheduling", 1)[1]
    script = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    executable = re.search(r"F=\((\S+)", script).group(1)
    options = re.search(r"F=\((.*?)\)", script, re.S).group(1).split(None, 1)[1].split()
    calls = []
    for line in script.splitlines():
        line = line.split("  #", 1)[0]
        if '"${F[@]}"' in line and not line.startswith("#"):
            line = line.replace('"$D"', DAY["{{ ds }}"]).replace('"daily-$D"', "daily-x")
            line = line.replace('"hdfs:///landing/fraud/$D/"', "/landing/x/")
            command = line.split('"${F[@]}"', 1)[1]
            calls.append(options + _fraud_app_args(executable + command, executable)[0])
    _daily_cycle(_subcommands(calls))
    cron = re.findall(r"```cron\n(.*?)```", section, re.S)[0]
    for line in cron.splitlines():
        if "fraud-app " in line:
            args = shlex.split(line.split("fraud-app ", 1)[1].split(">>")[0])
            assert build_parser().parse_args(args).command in ("train", "prune"), line
