"""`fraud-app unlock --force`'s audit folder and `paths.root` as the runs lock it (helper
lock43, session 43). Real files, real CLI, a dead holder's lock written by a child process
that ended.

Before: the audit folder `<paths.root>/.fraud-app-unlock/` was never pruned (`retention`
did not know it: a scheduled wrapper clearing locks added two files per clearing for
ever); a `file:` URI paths.root, which every run locks in its local directory, was looked
for as the relative folder `file:/...`: `unlock` listed nothing while every run was
refused for its lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl import lock
from fraud_app.etl.lock import LOCK_NAME, RootLock, owner_info
from pipelines.cli import main
from pipelines.unlock.clear import AUDIT_DIR

LINUX = lock.process_start(os.getpid()) is not None
pytestmark = pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")
DAY = 86400.0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _config(tmp_path: Path, root_text: str, retention: str = "") -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{root_text}'}}\ntracking: {{enabled: false}}\n{retention}")
    return cfg


def _stale_lock(root: Path, name: str = LOCK_NAME) -> Path:
    """A lock of this machine whose holder ended (dead: `--force` clears it)."""
    path = root / name
    path.write_text(json.dumps({**owner_info(), "pid": _dead_pid(), "command": "etl"}))
    return path


def _clear(capsys, cfg: Path, path: Path, age_days: float) -> list[Path]:
    """`unlock --force path`; the files it added to the audit folder, aged `age_days`."""
    folder = path.parent / AUDIT_DIR
    before = set(folder.iterdir()) if folder.is_dir() else set()
    assert main(["-c", str(cfg), "unlock", "--force", str(path), "--reason", "probe"]) == 0
    capsys.readouterr()
    added = sorted(set(folder.iterdir()) - before)
    then = time.time() - age_days * DAY
    for p in added:
        os.utime(p, (then, then))
    return added


def test_prune_removes_old_unlock_audit_records_with_their_copies(tmp_path, capsys):
    """Three clearings (100, 50 and 1 day old: a record and the moved lock each), a file
    no record names; `unlock_audit: {max_age_days: 30}` removes the two old clearings,
    record and copy together, and keeps the newest and the unnamed file."""
    root = tmp_path / "work"
    root.mkdir()
    cfg = _config(tmp_path, str(root), "retention: {unlock_audit: {max_age_days: 30}}\n")
    old = _clear(capsys, cfg, _stale_lock(root), 100)
    middle = _clear(capsys, cfg, _stale_lock(root, ".fraud-app-prune.lock"), 50)
    new = _clear(capsys, cfg, _stale_lock(root), 1)
    assert [len(x) for x in (old, middle, new)] == [2, 2, 2]  # <stamp>.json + the lock
    stray = root / AUDIT_DIR / "notes.txt"  # put there by hand: no record names it
    stray.write_text("why we cleared it")
    os.utime(stray, (time.time() - 400 * DAY,) * 2)

    assert main(["-c", str(cfg), "prune"]) == 0
    out = capsys.readouterr().out

    left = set((root / AUDIT_DIR).iterdir())
    assert left == {*new, stray}, sorted(p.name for p in left)
    assert "2 unlock audit records" in out, out
    assert "kept 2 unlock audit records (" in out, out  # the newest, and the stray one
    assert main(["-c", str(cfg), "unlock"]) == 0  # nothing locked meanwhile
    record = json.loads(next(p for p in new if p.suffix == ".json").read_text())
    assert record["reason"] == "probe" and Path(record["moved_to"][0]) in left


def test_without_an_unlock_audit_rule_every_record_stays(tmp_path, capsys):
    """The default (null / null, as every kind): a config without the rule removes none."""
    root = tmp_path / "work"
    root.mkdir()
    cfg = _config(tmp_path, str(root), "retention: {scoring_reports: {keep_last: 1}}\n")
    added = _clear(capsys, cfg, _stale_lock(root), 400) + _clear(
        capsys, cfg, _stale_lock(root), 300
    )
    assert main(["-c", str(cfg), "prune"]) == 0
    out = capsys.readouterr().out
    assert set((root / AUDIT_DIR).iterdir()) == set(added)
    assert "unlock audit" in out and "(2 no rule set)" in out, out


def test_a_file_uri_root_is_listed_and_cleared_in_its_directory(tmp_path, capsys, monkeypatch):
    """paths.root `file:///...`: the runs lock `<dir>/.fraud-app.lock`; `unlock` lists it
    there, `--force` clears it into `<dir>/.fraud-app-unlock/` (not a folder `file:`
    under the working directory), and the next run takes the lock."""
    root = tmp_path / "work"
    root.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cfg = _config(tmp_path, root.as_uri())
    path = _stale_lock(root)
    path.write_text(json.dumps({**json.loads(path.read_text()), "host": "elsewhere-42"}))
    with pytest.raises(ConcurrentRunError, match=f"unlock --force {path}"):
        RootLock(root.as_uri(), "etl").__enter__()

    assert main(["-c", str(cfg), "unlock", "--json"]) == 4
    (found,) = json.loads(capsys.readouterr().out)["found"]
    assert (found["path"], found["state"]) == (str(path), "unknown")
    assert main(["-c", str(cfg), "unlock", "--force", str(path)]) == 0
    capsys.readouterr()
    assert not path.exists() and len(list((root / AUDIT_DIR).glob("*.json"))) == 1
    assert list(cwd.iterdir()) == []
    with RootLock(root.as_uri(), "etl"):
        assert path.is_file()


def test_a_remote_root_is_refused_by_unlock_naming_the_setting(tmp_path, capsys):
    """paths.root on HDFS: no run locks it (RootLock refuses it), so `unlock` says so,
    exit 2, and writes nothing locally (it looked for `hdfs:/nn/...` under the working
    directory and answered "nothing locked", exit 0)."""
    cfg = _config(tmp_path, "hdfs://nn:8020/fraud")
    assert main(["-c", str(cfg), "unlock"]) == 2
    err = capsys.readouterr().err
    # session 44: refused when the config is read (no paths.local_root for the locks)
    assert "paths.root 'hdfs://nn:8020/fraud' is remote, so paths.local_root must" in err, err


def test_a_remote_roots_locks_are_listed_and_cleared_in_local_root(tmp_path, capsys, monkeypatch):
    """paths.root on HDFS with paths.local_root (session 44): the runs lock
    `<local_root>/.fraud-app.lock`; `unlock` lists it there and `--force` records the
    clearing in `<local_root>/.fraud-app-unlock/`; nothing in the working directory."""
    local = tmp_path / "local"
    local.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        # the tables local too: `unlock` looks at their commit markers with Spark
        f"paths: {{root: 'hdfs://nn:8020/fraud', local_root: '{local}', canonical: "
        f"'{tmp_path}/canonical', features: '{tmp_path}/features'}}\n"
        "tracking: {enabled: false}\n"
    )
    path = _stale_lock(local)
    path.write_text(json.dumps({**json.loads(path.read_text()), "host": "elsewhere-42"}))
    assert main(["-c", str(cfg), "unlock", "--json"]) == 4
    (found,) = json.loads(capsys.readouterr().out)["found"]
    assert (found["path"], found["state"]) == (str(path), "unknown")
    assert main(["-c", str(cfg), "unlock", "--force", str(path)]) == 0
    assert not path.exists() and len(list((local / AUDIT_DIR).glob("*.json"))) == 1
    assert list(cwd.iterdir()) == []
