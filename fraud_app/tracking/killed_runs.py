"""MLflow runs of killed processes, ended by the retry that finds them.

A process killed without ending its MLflow run (SIGKILL, the OOM killer, a lost node)
leaves it RUNNING for good: `train --run w1` killed, then retried, showed `w1` twice, the
killed one RUNNING beside the retry's FINISHED one, and a `score --job-id day20` retried the
same (docs/PROBES.md session 38); a RUNNING run also holds back a store relocation
(fraud_app.tracking.relocation).

Every run these commands start records the process that started it (OWNER_TAG:
fraud_app.etl.lock.owner_info: pid, host, process start, PID namespace). A run of the same
name, kind (and project) that is still RUNNING when the next one starts is ended as KILLED
when that process is provably gone (fraud_app.etl.lock.liveness), tagged with the run
that found it (ENDED_BY); a run whose process still lives, runs on another host or in another PID namespace (this
process cannot tell), or recorded no owner (an older release) is left as it is. Containers
that share a hostname (Docker's --network host or a fixed `hostname:`, a Kubernetes pod
with hostNetwork) each see their own pids: the retry in one read another's live driver,
pid 1 of its namespace, as this host's pid 1 started at another time, and ended its run
(docs/PROBES.md, session 39 review). Owns that rule and `start_owned_run`, the one way the
app starts a run (training, scoring, evaluation, tune, backtest, promote and every nested
run: members, baselines, trials, folds): `tune` and `backtest` started theirs without an
owner, so a killed search stayed RUNNING for good (session 40). A killed run's RUNNING
nested runs are ended with it. The callers say which runs are alike: `promote` ends the
killed promotion runs of its model (any version), also when it changes nothing and starts
no run of its own (session 41: a promote killed after its alias move stayed RUNNING, as
its retry answered `unchanged`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from fraud_app.etl.lock import holder_alive, owner_info
from fraud_app.redaction import redact_text
from fraud_app.tracking.ownership import PROJECT_TAG

logger = logging.getLogger(__name__)

OWNER_TAG = "fraud_app.owner"  # fraud_app.etl.lock.owner_info of its process
ENDED_BY = "fraud_app.ended_by"  # the run that found it killed and ended it
ENDED_WHY = "fraud_app.ended_why"


def owner_tags() -> dict[str, str]:
    """The tag recording this process as a run's owner (fraud_app.etl.lock.owner_info: its
    PID namespace and machine too)."""
    return {OWNER_TAG: json.dumps(owner_info(), sort_keys=True)}


def _owner(tags: dict[str, str]) -> dict[str, Any] | None:
    """The process a run's owner tag names; None (whose process it was is not known, so the
    run is left as it is) for no tag or one that is not `owner_tags`' object: a pid that is
    not a number (`"123"`, edited or damaged) read as a process that is gone, and ended a
    run whose process may still run as KILLED (docs/PROBES.md, session 40)."""
    try:
        owner = json.loads(tags.get(OWNER_TAG) or "null")
    except ValueError:
        return None
    if not isinstance(owner, dict):
        return None
    pid, host = owner.get("pid"), owner.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(host, str):
        return None
    return owner


def start_owned_run(client, experiment_id: str, run_name: str, kind: str, *,
                    tags: dict[str, str] | None = None, alike: dict[str, str] | None = None,
                    parent: str | None = None) -> str:  # fmt: skip
    """Create a RUNNING run (its id) tagged with its kind, `tags`, MLflow's context tags
    (as fluent start_run sets them) and this process (OWNER_TAG); then end as KILLED the
    runs of the same name and kind (and `alike` tags) a killed process left RUNNING
    (end_killed_runs). `parent`: a nested run (mlflow.parentRunId), not searched for: its
    parent's retry ends it with its parent. Resume it with `mlflow.start_run(run_id=...)`
    to log through the fluent API."""
    from mlflow.tracking.context import registry as context
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

    given = {MLFLOW_RUN_NAME: run_name, "fraud_app.kind": kind, **(tags or {}), **owner_tags()}
    if parent is not None:
        given[MLFLOW_PARENT_RUN_ID] = parent
    run = client.create_run(experiment_id, tags=context.resolve_tags(given), run_name=run_name)
    if parent is None:
        end_killed_runs(client, experiment_id, run_name, kind, run.info.run_id, tags=alike)
    return run.info.run_id


def end_killed_runs(client, experiment_id: str, run_name: str | None, kind: str,
                    by_run: str | None, *, tags: dict[str, str] | None = None) -> list[str]:  # fmt: skip
    """End as KILLED the RUNNING runs named `run_name` (None: any name) of `kind` (tag
    fraud_app.kind; and every tag of `tags`, e.g. the project) in the experiment whose
    process is gone; the ids ended. `by_run`: the run starting now (not itself; None: a
    command that starts none, e.g. a promote that changes nothing, named by its process).
    A store that cannot answer costs this clean-up only: a WARNING, never the caller's run."""
    try:
        found = client.search_runs(
            [experiment_id], f"attributes.status = 'RUNNING' and tags.`fraud_app.kind` = '{kind}'",
            max_results=200,
        )  # fmt: skip
        ended = []
        if by_run is None:
            by = (f"fraud-app {kind} (pid {os.getpid()}, which started no run)",) * 2
        else:
            alike = "of the same name" if run_name is not None else f"of a {kind} alike"
            by = (by_run, f"run {by_run} {alike}")
        for run in found:
            run_tags = run.data.tags or {}
            if run.info.run_id == by_run:
                continue
            if run_name is not None and run_tags.get("mlflow.runName") != run_name:
                continue
            if any(run_tags.get(k) != v for k, v in (tags or {}).items()):
                continue
            if _end_if_killed(client, run.info.run_id, _owner(run_tags), *by):
                ended.append(run.info.run_id)
        return ended
    except Exception as exc:  # a courtesy: the run itself goes on
        logger.warning("tracking: could not look for killed runs named %s (%s: %s)",
                       run_name or f"(any {kind} run)", type(exc).__name__, str(exc)[:300])  # fmt: skip
        return []


def _end_if_killed(client, run_id: str, owner: dict[str, Any] | None, by_run: str,
                   by_text: str) -> bool:  # fmt: skip
    if owner is None:
        return False  # an older release's run: whose process it was is not known
    if holder_alive(owner) is not False:  # still running, or not provably this host's
        return False  # (another host, a container's PID namespace): not ours to end
    why = (f"its process (pid {owner.get('pid')} on {owner.get('host')}, started "
           f"{owner.get('started_at')}) was gone when {by_text} started")  # fmt: skip
    client.set_tag(run_id, ENDED_BY, by_run)
    client.set_tag(run_id, ENDED_WHY, why)
    client.set_terminated(run_id, "KILLED")
    logger.warning("tracking: run %s was left RUNNING by a killed process; ended as KILLED "
                   "(%s)", run_id, why)  # fmt: skip
    _end_nested(client, run_id, by_run, by_text)
    return True


def _end_nested(client, run_id: str, by_run: str, by_text: str) -> None:
    """The RUNNING nested runs (trials, folds, members) of the killed run `run_id`, each
    ended by the same rule (its own owner: a nested run of another process is left)."""
    from mlflow.entities import ViewType

    experiment = client.get_run(run_id).info.experiment_id
    children = client.search_runs(
        [experiment], f"attributes.status = 'RUNNING' and tags.`mlflow.parentRunId` = '{run_id}'",
        run_view_type=ViewType.ALL, max_results=1000,
    )  # fmt: skip
    for child in children:
        _end_if_killed(client, child.info.run_id, _owner(child.data.tags or {}), by_run, by_text)


KILLED_DECISION = "killed"  # gate.decision of a version whose run died before its alias
FAILED_DECISION = "failed"  # ... whose run failed (an error, its process went on) before it
ERROR_TAG = "fraud_app.error"  # a FAILED run's error (MlflowTracker), named by `failed`


def mark_orphans(client, experiment_id: str, name: str, run_name: str, project: str,
                 by: tuple[str, str]) -> list[str]:  # fmt: skip
    """Versions of `name` that an earlier run of `run_name` (this project) registered and
    that were left without their alias (no alias on them, none held before: ALIAS_HELD,
    champion.since; a version killed after its alias, which a promote or a later gate
    moved on before the retry, was tagged killed) because their run ended KILLED (its
    process died: gate.decision `killed`) or FAILED (an error in a process that went on:
    `failed`, with gate.run_status and gate.error); the decision is kept as
    gate.auto_decision, naming the retry `by` = (its run id, the version it registered).
    A killed `train --run w1` left v2 tagged `challenger` (or `champion`) without the
    alias, listed by `fraud-app models` as decided; its retry registered v3 and decided
    that one. A run still RUNNING is not touched: this run ended the dead ones when it
    started (end_killed_runs), so what is left is a live process's (a concurrent run of
    another host) or one this host cannot tell about; a FAILED run was tagged `killed`
    and a concurrent one's version too, before (session 40). The versions tagged."""
    from fraud_app.tracking.registry import ALIAS_HELD, versions_filter

    by_run, by_version = by
    runs = client.search_runs(
        [experiment_id], "tags.`fraud_app.kind` = 'training' and attributes.status != 'FINISHED'",
        max_results=200,
    )  # fmt: skip
    mine = [r for r in runs if r.info.run_id != by_run and r.info.status in ("KILLED", "FAILED")
            and (r.data.tags or {}).get("fraud_app.run") == run_name
            and (r.data.tags or {}).get(PROJECT_TAG, project) == project]  # fmt: skip
    if not mine:
        return []
    aliased = {str(v) for v in (client.get_registered_model(name).aliases or {}).values()}
    marked = []
    for run in mine:
        run_id = run.info.run_id
        for mv in client.search_model_versions(f"{versions_filter(name)} and run_id = '{run_id}'"):
            tags = mv.tags or {}
            decision = tags.get("gate.decision")
            if str(mv.version) in aliased or decision in (None, "", "manual", KILLED_DECISION,
                                                          FAILED_DECISION):  # fmt: skip
                continue
            if ALIAS_HELD in tags or "champion.since" in tags:
                continue  # killed after its alias, which another version holds now
            new = _orphan_tags(run, run_name, str(mv.version), decision, by_version)
            for key, value in new.items():
                client.set_model_version_tag(name, str(mv.version), key, value)
            marked.append(str(mv.version))
            logger.warning("registry: %s v%s: %s", name, mv.version, new["gate.reason"])
    return marked


def _orphan_tags(run, run_name: str, version: str, decision: str, by_version: str) -> dict:
    """The tags of a version its KILLED or FAILED run left without its alias."""
    run_id, status = run.info.run_id, run.info.status
    then = f"run {run_name} again registered v{by_version} and decided that one"
    if status == "FAILED":
        error = (run.data.tags or {}).get(ERROR_TAG) or "its error was not recorded"
        return {"gate.decision": FAILED_DECISION, "gate.auto_decision": decision,
                "gate.retried_as": by_version, "gate.run_status": status,
                "gate.error": error[:500],
                "gate.reason": f"run {run_name} ({run_id}) failed before v{version} got its "
                               f"alias ({decision}): {error[:300]}; {then}"}  # fmt: skip
    return {"gate.decision": KILLED_DECISION, "gate.auto_decision": decision,
            "gate.retried_as": by_version, "gate.run_status": status,
            "gate.reason": f"run {run_name} ({run_id}) was killed before v{version} got its "
                           f"alias ({decision}); {then}"}  # fmt: skip


def end_stopped_run(client, run_id: str, exc: BaseException) -> None:
    """End the run `run_id` (a promote's) of a command that stopped on `exc`: FAILED with
    its error (a store that refused a move), KILLED for a stop (SIGTERM, Ctrl-C); a store
    that cannot answer leaves it RUNNING, for the next promote to end (end_killed_runs)."""
    status = "FAILED" if isinstance(exc, Exception) else "KILLED"
    try:
        client.set_tag(run_id, ERROR_TAG, redact_text(f"{type(exc).__name__}: {exc}")[:1000])
        client.set_terminated(run_id, status)
    except Exception:  # the stop's own error is the one to report
        logger.warning("tracking: could not end run %s as %s", run_id, status)
