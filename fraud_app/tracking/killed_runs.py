"""MLflow runs of killed processes, ended by the retry that finds them.

A process killed without ending its MLflow run (SIGKILL, the OOM killer, a lost node)
leaves it RUNNING for good: `train --run w1` killed, then retried, showed `w1` twice, the
killed one RUNNING beside the retry's FINISHED one, and a `score --job-id day20` retried the
same (docs/PROBES.md session 38); a RUNNING run also holds back a store relocation
(fraud_app.tracking.relocation).

Every run these commands start records the process that started it (OWNER_TAG: pid, host,
process start, fraud_app.etl.lock.owner_info, and its PID namespace). A run of the same
name, kind (and project) that is still RUNNING when the next one starts is ended as KILLED
when that process is gone from this host, tagged with the run that found it (ENDED_BY); a
run whose process still lives, runs on another host or in another PID namespace (this
process cannot tell), or recorded no owner (an older release) is left as it is. Containers
that share a hostname (Docker's --network host or a fixed `hostname:`, a Kubernetes pod
with hostNetwork) each see their own pids: the retry in one read another's live driver,
pid 1 of its namespace, as this host's pid 1 started at another time, and ended its run
(docs/PROBES.md, session 39 review). Owns that rule only; the callers say which runs are
alike.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from fraud_app.etl.lock import owner_info, process_alive
from fraud_app.tracking.ownership import PROJECT_TAG

logger = logging.getLogger(__name__)

OWNER_TAG = "fraud_app.owner"  # {pid, host, process_start, started_at} of its process
ENDED_BY = "fraud_app.ended_by"  # the run that found it killed and ended it
ENDED_WHY = "fraud_app.ended_why"


def owner_tags() -> dict[str, str]:
    """The tag recording this process as a run's owner."""
    return {OWNER_TAG: json.dumps({**owner_info(), "pid_ns": pid_namespace()}, sort_keys=True)}


def pid_namespace() -> str | None:
    """This process's PID namespace ("pid:[4026531836]"; each container has its own), None
    where /proc does not say (another OS)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


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


def end_killed_runs(client, experiment_id: str, run_name: str, kind: str, by_run: str, *,
                    tags: dict[str, str] | None = None) -> list[str]:  # fmt: skip
    """End as KILLED the RUNNING runs named `run_name` of `kind` (tag fraud_app.kind; and
    every tag of `tags`, e.g. the project) in the experiment whose process is gone; the ids
    ended. `by_run`: the run starting now (not itself). A store that cannot answer costs
    this clean-up only: a WARNING, never the caller's run."""
    try:
        found = client.search_runs(
            [experiment_id], f"attributes.status = 'RUNNING' and tags.`fraud_app.kind` = '{kind}'",
            max_results=200,
        )  # fmt: skip
        ended = []
        for run in found:
            run_tags = run.data.tags or {}
            if run.info.run_id == by_run or run_tags.get("mlflow.runName") != run_name:
                continue
            if any(run_tags.get(k) != v for k, v in (tags or {}).items()):
                continue
            if _end_if_killed(client, run.info.run_id, _owner(run_tags), by_run):
                ended.append(run.info.run_id)
        return ended
    except Exception as exc:  # a courtesy: the run itself goes on
        logger.warning("tracking: could not look for killed runs named %s (%s: %s)",
                       run_name, type(exc).__name__, str(exc)[:300])  # fmt: skip
        return []


def _end_if_killed(client, run_id: str, owner: dict[str, Any] | None, by_run: str) -> bool:
    if owner is None:
        return False  # an older release's run: whose process it was is not known
    if owner.get("pid_ns", pid_namespace()) != pid_namespace():
        return False  # a container's process under this hostname: its pids are not ours
    alive = process_alive(owner.get("pid"), owner.get("host"), owner.get("process_start"))
    if alive is not False:  # still running here, or another host's: not ours to end
        return False
    why = (f"its process (pid {owner.get('pid')} on {owner.get('host')}, started "
           f"{owner.get('started_at')}) was gone when run {by_run} of the same name started")  # fmt: skip
    client.set_tag(run_id, ENDED_BY, by_run)
    client.set_tag(run_id, ENDED_WHY, why)
    client.set_terminated(run_id, "KILLED")
    logger.warning("tracking: run %s was left RUNNING by a killed process; ended as KILLED "
                   "(%s)", run_id, why)  # fmt: skip
    return True


KILLED_DECISION = "killed"  # gate.decision of a version whose run died before its alias


def mark_orphans(client, experiment_id: str, name: str, run_name: str, project: str,
                 by: tuple[str, str]) -> list[str]:  # fmt: skip
    """Versions of `name` that an earlier run of `run_name` (this project) registered and
    that died before their alias was set (their run not FINISHED, no alias on them, none
    held before: ALIAS_HELD, champion.since; a version killed after its alias, which a
    promote or a later gate moved on before the retry, was tagged killed): their
    gate.decision becomes `killed` (the decision kept as gate.auto_decision), naming the
    retry `by` = (its run id, the version it registered). A killed `train --run w1` left
    v2 tagged `challenger` (or `champion`) without the alias, listed by `fraud-app models`
    as decided; its retry registered v3 and decided that one. The versions tagged."""
    from fraud_app.tracking.registry import ALIAS_HELD, versions_filter

    by_run, by_version = by
    runs = client.search_runs(
        [experiment_id], "tags.`fraud_app.kind` = 'training' and attributes.status != 'FINISHED'",
        max_results=200,
    )  # fmt: skip
    mine = [r.info.run_id for r in runs if r.info.run_id != by_run
            and (r.data.tags or {}).get("fraud_app.run") == run_name
            and (r.data.tags or {}).get(PROJECT_TAG, project) == project]  # fmt: skip
    if not mine:
        return []
    aliased = {str(v) for v in (client.get_registered_model(name).aliases or {}).values()}
    marked = []
    for run_id in mine:
        for mv in client.search_model_versions(f"{versions_filter(name)} and run_id = '{run_id}'"):
            decision = (mv.tags or {}).get("gate.decision")
            if str(mv.version) in aliased or decision in (None, "", "manual", KILLED_DECISION):
                continue
            if ALIAS_HELD in (mv.tags or {}) or "champion.since" in (mv.tags or {}):
                continue  # killed after its alias, which another version holds now
            tags = {"gate.decision": KILLED_DECISION, "gate.auto_decision": decision,
                    "gate.retried_as": by_version,
                    "gate.reason": f"run {run_name} ({run_id}) was killed before v{mv.version} "
                                   f"got its alias ({decision}); run {run_name} again "
                                   f"registered v{by_version} and decided that one"}  # fmt: skip
            for key, value in tags.items():
                client.set_model_version_tag(name, str(mv.version), key, value)
            marked.append(str(mv.version))
            logger.warning("registry: %s v%s: %s", name, mv.version, tags["gate.reason"])
    return marked
