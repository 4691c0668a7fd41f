"""A `fraud-app promote` killed (a real SIGKILL of a child process) after the champion alias
moved, then the next promote of that model (real MLflow on sqlite in tmp; session 41).

Before: the promotion run was created after the alias move and every tag, then ended. A
kill inside `set_terminated` left it RUNNING for good: the same promote again answers
`unchanged` and starts no run, so nothing ended it (docs/PROBES.md, session 40 life40's
Left). A kill between the alias move and the run's creation left no run at all: the move
was recorded nowhere but in the alias."""

from __future__ import annotations

import json
import os

import mlflow
import pytest

from fraud_app.tracking.killed_runs import ENDED_BY, ENDED_WHY, OWNER_TAG
from fraud_app.tracking.registry import alias_version, promote
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking import killed_children
from tests.fraud_app.tracking.killed_children import killed_child
from tests.processes import CLI_DEADLINE_S

pytestmark = pytest.mark.integration


def _killed_promote(tmp_path, name: str, version: str, experiment: str, where: str) -> None:
    killed_child(tmp_path, where, killed_children.promote, tmp_path / "mlflow.db", name, version,
                 experiment, timeout=CLI_DEADLINE_S)  # fmt: skip


def _promotions(client, experiment: str):
    return [r for r in client.search_runs([experiment])
            if r.data.tags.get("fraud_app.kind") == "promotion"]  # fmt: skip


# set_terminated: killed as it ended its run (every move done); set_model_version_tag:
# killed right after the alias moved, before the version's tags (before: before any run)
@pytest.mark.parametrize("where", ["set_terminated", "set_model_version_tag"])
@pytest.mark.usefixtures("fresh_store")
def test_a_promote_killed_after_the_alias_moved_is_ended_by_the_next_promote(
    tmp_path, monkeypatch, where
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)
    _killed_promote(tmp_path, name, version, experiment, where)
    assert alias_version(client, name, "champion") == version  # the alias had moved
    (killed,) = _promotions(client, experiment)  # was (set_model_version_tag): no run
    assert killed.info.status == "RUNNING"
    assert json.loads(killed.data.tags[OWNER_TAG])["pid"] != os.getpid()

    again = promote(client, name, version, experiment_id=experiment)

    assert again.decision == "unchanged"  # no run of its own, as documented
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "KILLED"  # was: RUNNING for good
    assert f"pid {os.getpid()}, which started no run" in run.data.tags[ENDED_BY]
    assert "was gone when" in run.data.tags[ENDED_WHY]
    assert len(_promotions(client, experiment)) == 1


@pytest.mark.usefixtures("fresh_store")
def test_a_killed_promote_is_ended_by_a_promote_of_another_version(tmp_path, monkeypatch):
    """The operator, seeing the promote fail, promotes another version: its run ends the
    killed one (was: only a run of the same name and version could)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)
    was = alias_version(client, name, "champion")
    _killed_promote(tmp_path, name, version, experiment, "set_terminated")
    (killed,) = _promotions(client, experiment)

    back = promote(client, name, was, experiment_id=experiment)

    assert back.decision == "manual"
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "KILLED"  # was: RUNNING
    (mine,) = [r for r in _promotions(client, experiment) if r.info.run_id != killed.info.run_id]
    assert run.data.tags[ENDED_BY] == mine.info.run_id
    assert mine.info.status == "FINISHED"


@pytest.mark.usefixtures("fresh_store")
def test_a_promote_whose_alias_move_fails_ends_its_run_failed(tmp_path, monkeypatch):
    """The run now starts before the move: a store that refuses the move ends it FAILED
    with the error (not RUNNING until another promote)."""
    from mlflow.exceptions import MlflowException

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)

    def refused(self, *args, **kwargs):
        raise MlflowException("the store refused the alias (injected)")

    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", refused)
    with pytest.raises(MlflowException, match="refused the alias"):
        promote(client, name, version, experiment_id=experiment)
    (run,) = _promotions(client, experiment)
    assert run.info.status == "FAILED"
    assert "refused the alias" in run.data.tags["fraud_app.error"]


@pytest.mark.usefixtures("fresh_store")
def test_a_promote_killed_before_the_versions_tags_is_finished_by_its_retry(tmp_path, monkeypatch):
    """review41a: killed right after the alias moved, before the version's tags and the
    champion history: the retry answered `unchanged` and left the version with its gate's
    decision as the champion, and the history naming the old champion as the champion."""
    from fraud_app.tracking.champion_history import read_history

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)
    was = alias_version(client, name, "champion")
    auto = client.get_model_version(name, version).tags.get("gate.decision")
    _killed_promote(tmp_path, name, version, experiment, "set_model_version_tag")
    assert client.get_model_version(name, version).tags.get("gate.decision") == auto

    again = promote(client, name, version, experiment_id=experiment)

    assert again.decision == "unchanged" and "killed after moving the alias" in again.reason
    tags = client.get_model_version(name, version).tags
    assert (tags["gate.decision"], tags["gate.promoted_from"]) == ("manual", was)
    assert tags.get("gate.auto_decision") == auto
    history = read_history(client.get_registered_model(name).tags)
    last = history[-1]
    assert (last["version"], last["how"], last["replaced"]) == (version, "manual", was)
    third = promote(client, name, version, experiment_id=experiment)  # once: nothing more
    assert third.reason == f"v{version} is already the champion"
    assert read_history(client.get_registered_model(name).tags) == history


# (the killed promote's --reason, the retry's, what is recorded): the killed one's own;
# the retry's when the killed one was given none (probe46c wrote the killed one's default
# over it, review46a)
RETRY_REASONS = [
    ("INC-4711: the champion flags every new merchant", "", "INC-4711: the champion flags every new merchant"),
    ("", "INC-4712: rollback", "INC-4712: rollback"),
]  # fmt: skip


@pytest.mark.parametrize(("killed_reason", "retry_reason", "recorded"), RETRY_REASONS)
@pytest.mark.usefixtures("fresh_store")
def test_the_retry_finishes_a_killed_promote_with_the_killed_ones_reason(
    tmp_path, monkeypatch, killed_reason, retry_reason, recorded
):
    """Session 41's Left: the retry wrote its own `--reason` (the default, when it gave
    none) as the version's gate.reason and in the champion history, since the killed run
    did not record the reason it was given. Its run now does (`promotion.reason`)."""
    from fraud_app.tracking.champion_history import read_history

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)
    killed_child(tmp_path, "set_model_version_tag", killed_children.promote,
                 tmp_path / "mlflow.db", name, version, experiment, killed_reason,
                 timeout=CLI_DEADLINE_S)  # fmt: skip

    again = promote(client, name, version, experiment_id=experiment, reason=retry_reason)

    assert again.decision == "unchanged" and "killed after moving the alias" in again.reason
    assert client.get_model_version(name, version).tags["gate.reason"] == recorded
    last = read_history(client.get_registered_model(name).tags)[-1]
    assert (last["version"], last["reason"]) == (version, recorded)
