"""What a killed process leaves in MLflow, and what its retry makes of it (real MLflow on
sqlite in tmp; the kill is a real SIGKILL of a child process at the named call).

`train --run w1` killed between the registration of its version and the alias move left
that version tagged `gate.decision: champion` (or `challenger`) without the alias, listed by
`fraud-app models` as decided, and its MLflow run RUNNING for good beside the retry's
FINISHED one; the retry registered a second version (docs/PROBES.md, session 38). A
`score` killed while it logged its run left `scoring-<job id>` RUNNING the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from fraud_app.etl.lock import owner_info
from fraud_app.tracking.jobs import log_scoring_job
from fraud_app.tracking.registry import alias_version, list_versions
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.killed_children import killed_child, train_or_score
from tests.processes import CLI_DEADLINE_S

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _killed_child(root: Path, what: str, kill_at: str) -> None:
    killed_child(root, kill_at, train_or_score, root, what, timeout=CLI_DEADLINE_S)


def _runs(client, name: str):
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [r for r in client.search_runs(experiments) if r.info.run_name == name]


@pytest.mark.usefixtures("fresh_store")
def test_the_retry_of_a_train_killed_before_its_alias_ends_its_run_and_marks_its_version(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    name, rows = cfg.registry.model_name, h.rows(400, seed=3)
    first, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "champ", rows)
    assert (first["decision"], first["version"]) == ("champion", "1")
    _killed_child(tmp_path, "train", "set_registered_model_alias")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (killed,) = _runs(client, "w1")
    assert killed.info.status == "RUNNING"  # what the kill left: v2 decided, no alias
    assert client.get_model_version(name, "2").tags["gate.decision"] == "champion"
    assert alias_version(client, name, "champion") == "1"

    out, retry = h.gate_on_rows(cfg, tmp_path / "retry", h.linear_ensemble(2.0), "w1", rows)

    assert (out["decision"], out["version"]) == ("champion", "3")  # as the killed run decided
    assert alias_version(client, name, "champion") == "3"
    listed = {v["version"]: v for v in list_versions(client, name)}
    assert listed["2"]["aliases"] == [] and listed["2"]["gate"]["decision"] == "killed"
    assert listed["2"]["gate"]["auto_decision"] == "champion"  # was listed as decided
    assert listed["2"]["gate"]["retried_as"] == "3"
    assert listed["3"]["aliases"] == ["champion"] and listed["1"]["gate"]["decision"] == "champion"
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "KILLED"  # was RUNNING for good
    assert run.data.tags["fraud_app.ended_by"] == retry.run_id
    assert f"run {retry.run_id} of the same name started" in run.data.tags["fraud_app.ended_why"]
    assert client.get_run(retry.run_id).info.status == "FINISHED"


@pytest.mark.usefixtures("fresh_store")
def test_a_score_killed_while_logging_is_ended_by_its_retry_and_a_live_one_is_not(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"job_id": "day20"}))
    _killed_child(tmp_path, "score", "log_batch")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (killed,) = _runs(client, "scoring-day20")
    assert killed.info.status == "RUNNING"
    # a run of this very process (alive) named alike: not another's to end
    experiment = killed.info.experiment_id
    owner = json.dumps(owner_info())
    live = client.create_run(experiment, run_name="scoring-day20",
                             tags={"fraud_app.kind": "scoring", "fraud_app.owner": owner})  # fmt: skip

    run_id = log_scoring_job({"job_id": "day20", "dates": []}, summary, cfg)

    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(killed.info.run_id).data.tags["fraud_app.ended_by"] == run_id
    assert client.get_run(live.info.run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.status == "FINISHED"


LIVE_IN_CONTAINER = """
import sys, time
import mlflow
from fraud_app.tracking.killed_runs import owner_tags

client = mlflow.MlflowClient(sys.argv[1])
run = client.create_run(sys.argv[2], run_name="scoring-day20",
                        tags={"fraud_app.kind": "scoring", **owner_tags()})
print(run.info.run_id, flush=True)
time.sleep(120)  # alive, scoring, in its own PID namespace
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(),
    reason="starts a process in its own PID namespace (a container's): needs root and unshare",
)
@pytest.mark.usefixtures("fresh_store")
def test_a_live_run_of_another_pid_namespace_with_this_hostname_is_not_ended(tmp_path, monkeypatch):
    """Docker with --network host (or a fixed `hostname:`), a Kubernetes pod with
    hostNetwork: each driver in its own PID namespace (pid 1 or so) under the same
    hostname. Before: the retry read pid 1 here, another process started at another time,
    and ended the other container's LIVE run as KILLED."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"job_id": "day19"}))
    first = log_scoring_job({"job_id": "day19", "dates": []}, summary, cfg)  # the experiment
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    experiment = client.get_run(first).info.experiment_id
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    child = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", LIVE_IN_CONTAINER, uri, experiment],
        env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        live = child.stdout.readline().strip()
        assert live, "the child in its own PID namespace did not start its run"
        owner = json.loads(client.get_run(live).data.tags["fraud_app.owner"])
        assert owner["pid"] != child.pid  # the pid it sees is not one this host can check

        run_id = log_scoring_job({"job_id": "day20", "dates": []}, summary, cfg)

        assert child.poll() is None  # still alive
        assert client.get_run(live).info.status == "RUNNING"  # was: KILLED
        assert "fraud_app.ended_by" not in client.get_run(live).data.tags
        assert client.get_run(run_id).info.status == "FINISHED"
    finally:
        child.kill()
        child.wait(timeout=30)


@pytest.mark.usefixtures("fresh_store")
def test_a_version_that_held_its_alias_before_the_kill_is_not_marked_killed(tmp_path, monkeypatch):
    """`train --run w1` killed after its version became champion (while its run's last
    artifacts were logged); the operator rolled the champion back to v1 (`promote 1`) before
    the retry. Before: the retry tagged v2 gate.decision=killed, "killed before v2 got its
    alias", over the champion it had been (champion.since/until on v2 say so)."""
    from fraud_app.tracking.registry import promote

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    name, rows = cfg.registry.model_name, h.rows(400, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "champ", rows)
    _killed_child(tmp_path, "train", "log_dict")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (killed,) = _runs(client, "w1")
    assert killed.info.status == "RUNNING"
    assert alias_version(client, name, "champion") == "2"  # the kill came after its alias
    promote(client, name, "1", experiment_id=killed.info.experiment_id, reason="roll back")
    assert "champion.until" in client.get_model_version(name, "2").tags

    out, _ = h.gate_on_rows(cfg, tmp_path / "retry", h.linear_ensemble(2.0), "w1", rows)

    assert out["version"] == "3"
    assert client.get_run(killed.info.run_id).info.status == "KILLED"  # its run: ended
    tags = client.get_model_version(name, "2").tags
    assert tags["gate.decision"] == "champion", tags.get("gate.reason")  # was: killed
    assert "gate.retried_as" not in tags


@pytest.mark.usefixtures("fresh_store")
def test_a_run_whose_owner_tag_is_damaged_is_left_running(tmp_path, monkeypatch):
    """An owner tag whose pid is not a number (this live process's pid as text, edited or
    damaged), or that is not the object `owner_tags` writes: the retry read it as a
    process that is gone and ended the run as KILLED, though its process may still run."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"job_id": "day21"}))
    first = log_scoring_job({"job_id": "day21", "dates": []}, summary, cfg)  # the experiment
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_run(first).info.experiment_id
    me = owner_info()
    damaged = [json.dumps({**me, "pid": str(me["pid"])}), json.dumps({**me, "host": None}),
               json.dumps([me]), "{\"pid\": 1"]  # fmt: skip
    runs = [client.create_run(experiment, run_name="scoring-day22",
                              tags={"fraud_app.kind": "scoring", "fraud_app.owner": tag})
            for tag in damaged]  # fmt: skip

    log_scoring_job({"job_id": "day22", "dates": []}, summary, cfg)

    assert [client.get_run(r.info.run_id).info.status for r in runs] == ["RUNNING"] * 4
