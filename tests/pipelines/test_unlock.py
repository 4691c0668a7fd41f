"""`fraud-app unlock`: the locks and commit markers under the configured paths, judged as
the runs judge them; `--force PATH` clears one on the operator's word, with an audit file
(real files, real processes: a live holder is a child process, a dead one a child that
ended; session 41).

Before: no command showed them; a lock this host cannot judge (a release before session
40's, another host's) was cleared by deleting the file by hand, with no record."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.etl import lock
from fraud_app.etl.lock import LOCK_NAME, RootLock, owner_info
from pipelines.cli import main
from pipelines.commands.unlock import EXIT_STUCK
from pipelines.unlock.clear import AUDIT_DIR, read_audit

REPO = Path(__file__).resolve().parents[2]
LINUX = lock.process_start(os.getpid()) is not None
pytestmark = pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")


def _config(tmp_path: Path, tracking: bool = False) -> Path:
    root = tmp_path / "work"
    root.mkdir(exist_ok=True)
    cfg = tmp_path / "unlock.yaml"
    text = f"paths: {{root: '{root}'}}\nspark: {{master: 'local[1]'}}\n"
    text += (f"tracking: {{enabled: true, uri: 'sqlite:///{root}/mlflow.db'}}\n" if tracking
             else "tracking: {enabled: false}\n")  # fmt: skip
    cfg.write_text(text)
    return cfg


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _unlock(capsys, cfg: Path, *args: str) -> tuple[int, dict | str, str]:
    code = main(["-c", str(cfg), "unlock", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args and out.strip() else out), err


def _audits(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / AUDIT_DIR).glob("*.json"))]


def test_an_older_releases_lock_is_stuck_until_forced_and_the_clearing_is_recorded(
    tmp_path, capsys, monkeypatch, caplog
):
    """In a container (not the initial PID namespace) a lock of a release before session 40
    cannot be judged: `unlock` says so with exit 4; `--force` clears it, logged and recorded,
    and the next run takes the lock."""
    monkeypatch.setattr(lock, "INIT_PID_NS", "pid:[0]")
    cfg, root = _config(tmp_path), tmp_path / "work"
    pid = _dead_pid()
    record = {**owner_info(), "pid": pid, "command": "etl"}
    record.pop("pid_ns")
    (root / LOCK_NAME).write_text(json.dumps(record))

    code, listing, _ = _unlock(capsys, cfg, "--json")

    assert code == EXIT_STUCK == 4
    (found,) = listing["found"]
    assert (found["kind"], found["path"], found["state"]) == ("run lock", str(root / LOCK_NAME),
                                                               "unknown")  # fmt: skip
    assert found["needs_force"] and found["holder"]["pid"] == pid
    assert "it recorded no PID namespace" in found["reason"]
    assert f"pid {pid} does not run in this process's PID namespace now" in found["reason"]
    assert found["age_s"] is not None and found["age_s"] >= 0
    code, text, err = _unlock(capsys, cfg)  # the same, for a person
    assert code == 4 and "unknown    run lock" in text and "--force PATH" in err

    with caplog.at_level(logging.WARNING):
        code, done, _ = _unlock(capsys, cfg, "--force", str(root / LOCK_NAME), "--json",
                                "--reason", "pid gone: checked on the host")  # fmt: skip

    assert code == 0
    assert not (root / LOCK_NAME).exists()
    (audit,) = _audits(root)
    assert audit == done
    assert audit["held_by"]["pid"] == pid and audit["cleared_by"]["pid"] == os.getpid()
    assert audit["reason"] == "pid gone: checked on the host"
    assert audit["state"] == "unknown" and audit["at"]
    (kept,) = audit["moved_to"]
    assert json.loads(Path(kept).read_text())["pid"] == pid  # the lock itself kept
    assert f"unlock: cleared run lock {root / LOCK_NAME}" in caplog.text
    with RootLock(str(root), "etl"):
        pass
    assert _unlock(capsys, cfg, "--json")[1]["found"] == []


HOLDER = """
import sys
from fraud_app.etl.lock import RootLock
with RootLock(sys.argv[1], "etl"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_live_holder_is_refused_unless_even_if_alive(tmp_path, capsys):
    cfg, root = _config(tmp_path), tmp_path / "work"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, listing, _ = _unlock(capsys, cfg, "--json")
        assert code == 0  # busy, not stuck
        (found,) = listing["found"]
        assert (found["state"], found["needs_force"]) == ("alive", False)
        assert found["holder"]["pid"] == holder.pid

        code, _, err = _unlock(capsys, cfg, "--force", str(root / LOCK_NAME))
        assert code == 2
        assert "held by a running process" in err and "--even-if-alive" in err
        assert (root / LOCK_NAME).exists() and _audits(root) == []

        code, _, _ = _unlock(capsys, cfg, "--force", str(root / LOCK_NAME), "--even-if-alive")
        assert code == 0
        assert not (root / LOCK_NAME).exists()
        (audit,) = _audits(root)
        assert audit["state"] == "alive" and audit["held_by"]["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_dead_and_unreadable_locks_of_every_kind(tmp_path, capsys):
    """A dead holder's run-name and prune locks (the next run takes them over: not stuck)
    and an unreadable scoring lock (refused to every run: stuck), cleared one by one."""
    cfg, root = _config(tmp_path), tmp_path / "work"
    dead = {**owner_info(), "pid": _dead_pid()}
    (root / "models").mkdir()
    (root / "models" / ".w1.lock").write_text(json.dumps({**dead, "command": "train --run w1"}))
    (root / ".fraud-app-prune.lock").write_text(json.dumps({**dead, "command": "prune"}))
    (root / "scores").mkdir()
    (root / "scores" / LOCK_NAME).write_text('{"pid": 12')  # cut short

    code, listing, _ = _unlock(capsys, cfg, "--json")

    states = {f["kind"]: (f["state"], f["needs_force"]) for f in listing["found"]}
    assert states == {"run-name lock": ("dead", False), "prune lock": ("dead", False),
                      "scoring lock": ("unreadable", True)}  # fmt: skip
    assert code == 4 and listing["stuck"] == 1
    assert _unlock(capsys, cfg, "--force", str(root / "scores" / LOCK_NAME))[0] == 0
    assert _unlock(capsys, cfg, "--json")[0] == 0  # only dead ones left
    for path in (root / "models" / ".w1.lock", root / ".fraud-app-prune.lock"):
        assert _unlock(capsys, cfg, "--force", str(path))[0] == 0
    assert [a["kind"] for a in _audits(root)] == ["scoring lock", "run-name lock", "prune lock"]
    assert _unlock(capsys, cfg, "--json")[1]["found"] == []
    code, _, err = _unlock(capsys, cfg, "--force", str(root / "nothing.lock"))
    assert code == 2 and "not a lock or commit marker of this config" in err


FLOCKER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_the_tracking_store_lock_names_its_holder_and_is_never_cleared(tmp_path, capsys):
    cfg, root = _config(tmp_path, tracking=True), tmp_path / "work"
    store_lock = root / "mlflow.db.lock"
    holder = subprocess.Popen([sys.executable, "-c", FLOCKER, str(store_lock)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, listing, _ = _unlock(capsys, cfg, "--json")
        (found,) = listing["found"]
        assert (found["kind"], found["state"]) == ("tracking store lock", "alive")
        assert f"held by pid {holder.pid}" in found["reason"]
        assert code == 0
        code, _, err = _unlock(capsys, cfg, "--force", str(store_lock), "--even-if-alive")
        assert code == 2 and "never cleared" in err
        assert store_lock.exists()
    finally:
        holder.kill()
        holder.wait()
    fd = os.open(store_lock, os.O_RDONLY)  # released with its process
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    assert _unlock(capsys, cfg, "--json")[1]["found"][0]["state"] == "free"


@pytest.mark.spark
def test_a_commit_marker_this_host_cannot_judge_is_renamed_killed(
    spark, tmp_path, capsys, monkeypatch
):
    """An `etl --mode append` of a release before session 40, killed on this host, in a
    container: its marker is stuck (every reader and writer refuses the table); `--force`
    renames it `_killed.json`, which the next `etl` on its input recovers (as the refusal
    says: test_liveness_upgrade.py runs that step)."""
    monkeypatch.setattr(lock, "INIT_PID_NS", "pid:[0]")
    cfg, root = _config(tmp_path), tmp_path / "work"
    staged = root / "canonical" / "_staging" / "etl-20261101T000000-0a0a0a0a"
    staged.mkdir(parents=True)
    info = {**owner_info(), "pid": _dead_pid(), "dates": ["2024-01-02"]}
    info.pop("pid_ns")
    (staged / "_committing.json").write_text(json.dumps(info))

    code, listing, _ = _unlock(capsys, cfg, "--json")

    assert code == 4
    (found,) = listing["found"]
    assert (found["kind"], found["state"]) == ("commit marker", "unknown")
    assert found["path"].endswith("etl-20261101T000000-0a0a0a0a/_committing.json")
    assert "dates 2024-01-02" in found["guards"]
    assert "takes the killed run's dates back out" in found["on_clear"]
    assert _unlock(capsys, cfg, "--force", found["path"])[0] == 0
    assert (staged / "_killed.json").exists() and not (staged / "_committing.json").exists()
    code, listing, _ = _unlock(capsys, cfg, "--json")
    assert code == 0 and listing["found"][0]["state"] == "killed"
    (audit,) = _audits(root)
    assert audit["kind"] == "commit marker" and audit["moved_to"][0].endswith("_killed.json")


@pytest.mark.spark
def test_an_unreadable_labels_marker_cleared_lets_the_next_labels_run(spark, tmp_path, capsys):
    """review41a: a `labels` run killed inside its commit with its marker unreadable had
    moved its ledger file and its quarantine file in, unrecorded. `--force` moved only the
    marker and the table's `_files.json` aside, so the next `labels` run, which the
    clearing promises "records the table as it is then", was refused for the quarantine
    (its record) and then for the ledger (session 41's record), one by one."""
    from fraud_app.config import load_config
    from fraud_app.etl.labels import run_labels
    from fraud_app.etl.pipeline import run_etl
    from tests.fraud_app.etl.test_labels_ledger import FIRST, _raw

    _raw(tmp_path, FIRST)
    root = tmp_path / "work"
    settings = {"paths.root": str(root), "etl": {"input": str(tmp_path / "raw")}}
    run_etl(spark, load_config(None, settings))
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label,label_time\na1,1,2024-01-09 00:30:00\nzz9,1,\n")
    run_labels(spark, load_config(None, settings), [str(feed)])
    # the killed run's commit: its ledger and quarantine files moved in, its marker cut
    table, job = root / "canonical", "labels-20261206T000000-0b0b0b0b0b0b"
    for folder in (table / "_labels_ledger", root / "quarantine"):
        first = next(p for p in sorted(folder.iterdir()) if p.name.startswith("labels-"))
        (folder / f"{job}-{first.name}").write_bytes(first.read_bytes())
    staged = table / "_staging" / job
    staged.mkdir(parents=True)
    (staged / "_committing.json").write_text("")
    cfg = tmp_path / "unlock.yaml"
    cfg.write_text(f"paths: {{root: '{root}'}}\netl: {{input: '{tmp_path / 'raw'}'}}\n"
                   "spark: {master: 'local[1]'}\ntracking: {enabled: false}\n")  # fmt: skip
    code, listing, _ = _unlock(capsys, cfg, "--json")
    (found,) = listing["found"]
    assert (code, found["state"]) == (4, "unreadable")
    assert _unlock(capsys, cfg, "--force", found["path"])[0] == 0

    again = tmp_path / "again.csv"
    again.write_text("transaction_id,label,label_time\na3,1,2024-01-09 00:30:00\n")
    result = run_labels(spark, load_config(None, settings), [str(again)])
    assert result.to_dict()["labels_filled"] == 1
    (audit,) = read_audit(str(root))  # the copies beside it are no audit records
    moved = sorted(Path(p).name.split(f"-{os.getpid()}-", 1)[1] for p in audit["moved_to"])
    assert moved == ["_committing.json", "_labels_ledger-_files.json",
                     "canonical-_files.json", "quarantine-_files.json"]  # fmt: skip
