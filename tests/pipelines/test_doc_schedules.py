"""The scheduling examples (docs/DEPLOY.md's cron script, docs/examples/fraud_dag.py) run the
daily cycle the README describes ("Late-arriving transactions (the daily cycle)": `etl --mode
append`, `features`, `score --date D`, then the `unscored_dates` scored again), and every
fraud-app command they hold is one the CLI parses. Before session 37 the example DAG, named
`fraud_app_daily`, trained every day and scored nothing, and the cron example ran `run` every
night: the whole workflow, whose `score` covers the new model's test window, never the new day.

Airflow is not installed here: the DAG file runs against a recorder of its DAG and
BashOperator calls (the file's own code, the commands it builds, are what is checked)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
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


# The re-score loops run for real (bash), with a stand-in for the fraud-app executable whose
# `score` prints the JSON result the CLI prints (two dates in `unscored_dates`) and records
# its calls: what is checked is the shell around it (exit codes, the JSON read by jq).
_FAKE_FRAUD_APP = """#!/bin/bash
echo "$*" >> "{log}"
if [[ " $* " == *" score "*"--job-id"* ]]; then
  printf '{{\\n  "job_id": "daily",\\n  "unscored_dates": {{\\n    "2026-01-03": 5,\\n    "2026-01-04": 2\\n  }}\\n}}\\n'
elif [[ " $* " == *" score "* ]]; then
  printf '{{\\n  "job_id": "again",\\n  "unscored_dates": {{}}\\n}}\\n'
fi
"""


def _fake_bin(tmp_path: Path, jq_works: bool) -> tuple[Path, Path, dict]:
    """(the fraud-app stand-in, its call log, the environment): with `jq_works` False, a
    `jq` first on PATH that fails as a missing one does (127)."""
    log, exe, bindir = tmp_path / "calls.log", tmp_path / "fraud-app", tmp_path / "bin"
    exe.write_text(_FAKE_FRAUD_APP.format(log=log))
    bindir.mkdir()
    env = dict(os.environ)
    if not jq_works:
        jq = bindir / "jq"
        jq.write_text('#!/bin/sh\necho "jq: command not found" >&2\nexit 127\n')
        jq.chmod(jq.stat().st_mode | stat.S_IXUSR)
        env["PATH"] = f"{bindir}:{env.get('PATH', '')}"
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe, log, env


def _rescored(log: Path) -> list[str]:
    """The dates scored again (the `score --date D` calls without a --job-id)."""
    calls = log.read_text().splitlines() if log.exists() else []
    return [c.split("--date ", 1)[1].split()[0] for c in calls if " score " in f" {c} "
            and "--job-id" not in c]  # fmt: skip


def _cron_script(exe: Path) -> str:
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    section = text.split("## 7. Scheduling", 1)[1]
    script = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    executable = re.search(r"F=\((\S+)", script).group(1)
    return script.replace(executable, str(exe))


def _dag_score_task(dag_file, exe: Path) -> str:
    namespace, dags = dag_file
    [command] = [c for c in dags["fraud_app_daily"] if "unscored_dates" in c]
    for jinja, value in DAY.items():
        command = command.replace(jinja, value)
    return command.replace(namespace["FRAUD_APP"], str(exe))


def test_the_deploy_cron_script_fails_when_the_unscored_dates_cannot_be_read(tmp_path):
    """`for d in $(jq ...)` under `set -e`: the shell ignores a failure inside a `for`'s
    word list, so without jq (or with output jq cannot read) the script ended with 0,
    having re-scored nothing, and cron's log showed success (session 37 review)."""
    exe, log, env = _fake_bin(tmp_path, jq_works=False)
    done = subprocess.run(["bash", "-c", _cron_script(exe)], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0, (done.returncode, done.stderr)
    assert "jq: command not found" in done.stderr
    assert _rescored(log) == []


def test_the_example_dag_score_task_fails_when_the_unscored_dates_cannot_be_read(
    dag_file, tmp_path
):
    """The same in the DAG's `score` task: Airflow marked it a success without the
    re-scores (session 37 review)."""
    exe, log, env = _fake_bin(tmp_path, jq_works=False)
    done = subprocess.run(["bash", "-c", _dag_score_task(dag_file, exe)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0, (done.returncode, done.stderr)
    assert _rescored(log) == []


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_schedules_score_again_each_unscored_date(dag_file, tmp_path):
    exe, log, env = _fake_bin(tmp_path, jq_works=True)
    for command in (_cron_script(exe), _dag_score_task(dag_file, exe)):
        log.unlink(missing_ok=True)
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _rescored(log) == ["2026-01-03", "2026-01-04"]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_dag_score_task_ends_with_the_failed_rescores_exit_code(dag_file, tmp_path):
    """A re-score that fails ends the task with its own exit code (2: a mistake or a
    damaged file, 143: killed by SIGTERM), not always 1 (session 37)."""
    exe, log, env = _fake_bin(tmp_path, jq_works=True)
    text = exe.read_text().replace('printf \'{\\n  "job_id": "again"', "exit 2; printf '")
    assert "exit 2;" in text
    exe.write_text(text)
    done = subprocess.run(["bash", "-c", _dag_score_task(dag_file, exe)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert _rescored(log) == ["2026-01-03"]
