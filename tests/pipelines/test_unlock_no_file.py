"""A lock path that holds no file: a symbolic link to nothing, or a directory (review43a).
Every run is refused for it (RootLock, lock43's messages); `fraud-app unlock` listed
neither ("nothing locked", exit 0: a wrapper that pages on exit 4 stayed quiet while every
run failed), `unlock --force` on it said it was no lock of this config, and a directory met
by a run ended in `Is a directory; check that the path exists ...` (the CLI) or an
IsADirectoryError (the Python API), neither naming the way out. Now both are listed as
`unreadable` (exit 4), `--force` moves them into the audit folder as they are, with a
record, and the next run takes the lock. Real files, the CLI's own main()."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl import lock
from fraud_app.etl.lock import LOCK_NAME, RootLock
from pipelines.cli import main
from pipelines.unlock.clear import AUDIT_DIR

pytestmark = pytest.mark.skipif(
    lock.process_start(os.getpid()) is None, reason="start times come from /proc"
)


def _unlock(capsys, cfg: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-c", str(cfg), "unlock", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _config(tmp_path: Path, more: str = "") -> tuple[Path, Path]:
    root = tmp_path / "work"
    root.mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{root}'}}\ntracking: {{enabled: false}}\n{more}")
    return cfg, root


@pytest.mark.parametrize("what", ["a link to nothing", "a directory"])
def test_a_lock_path_without_a_lock_file_is_listed_stuck_and_forced_aside(tmp_path, capsys, what):
    cfg, root = _config(tmp_path)
    path = root / LOCK_NAME
    if what == "a directory":
        path.mkdir()
        (path / "note").write_text("made by hand")
        named = "is a directory: it names no run"
    else:
        path.symlink_to(tmp_path / "gone")
        named = f"is a symbolic link to {tmp_path / 'gone'}, which is not there"

    with pytest.raises(ConcurrentRunError) as refused:
        RootLock(str(root), "etl").__enter__()
    assert f"the lock file {path} {named}" in str(refused.value)
    assert f"clear it with `fraud-app unlock --force {path}`" in str(refused.value)

    code, out, _ = _unlock(capsys, cfg, "--json")
    listing = json.loads(out)
    assert code == 4, listing  # before: 0, "nothing locked"
    assert [(f["kind"], f["path"], f["state"]) for f in listing["found"]] == [
        ("run lock", str(path), "unreadable")
    ]

    code, _, err = _unlock(capsys, cfg, "--force", str(path), "--reason", "probe")
    assert code == 0, err
    assert not os.path.lexists(path)
    audit = root / AUDIT_DIR
    moved = [p for p in audit.iterdir() if p.name.endswith(LOCK_NAME)]
    assert len(moved) == 1  # kept as it was, beside its record
    if what == "a directory":
        assert (moved[0] / "note").read_text() == "made by hand"
    else:
        assert os.readlink(moved[0]) == str(tmp_path / "gone")
    (record,) = [json.loads(p.read_text()) for p in audit.glob("*.json")]
    assert record["cleared"] == str(path) and record["moved_to"] == [str(moved[0])]
    with RootLock(str(root), "etl"):  # the next run takes the lock
        assert json.loads(path.read_text())["command"] == "etl"


def test_prune_removes_what_such_a_clearing_moved_and_never_follows_a_link(tmp_path, capsys):
    """The run lock a link to a directory elsewhere, the prune lock a directory; both
    forced aside 100 days ago (and an empty lock file since); `retention.unlock_audit: {max_age_days: 30}` removes each
    record with what it moved (the link itself: the directory it points at stays)."""
    cfg, root = _config(tmp_path, "retention: {unlock_audit: {max_age_days: 30}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not fraud-app's")
    (root / LOCK_NAME).symlink_to(elsewhere)
    (root / ".fraud-app-prune.lock").mkdir()
    for path in (root / LOCK_NAME, root / ".fraud-app-prune.lock"):
        assert _unlock(capsys, cfg, "--force", str(path))[0] == 0
    audit = root / AUDIT_DIR
    assert len(list(audit.iterdir())) == 4  # two records, a link, a directory
    then = time.time() - 100 * 86400
    for entry in audit.iterdir():
        os.utime(entry, (then, then), follow_symlinks=False)
    (root / LOCK_NAME).write_text("")  # a newer clearing: prune always keeps the newest
    assert _unlock(capsys, cfg, "--force", str(root / LOCK_NAME))[0] == 0
    newest = set(audit.iterdir()) - {e for e in audit.iterdir() if e.lstat().st_mtime < then + 1}

    assert main(["-c", str(cfg), "prune"]) == 0
    out = capsys.readouterr().out
    assert set(audit.iterdir()) == newest, out  # before: the link and the directory stayed
    assert len(newest) == 2
    assert (elsewhere / "keep.txt").read_text() == "not fraud-app's"


def test_a_record_that_names_another_record_does_not_take_it_along(tmp_path, capsys):
    """An old record whose `moved_to` was edited to name a newer record (by hand, a bad
    merge of two audit folders): prune removes the old record and its own moved lock, never
    the newer record (before: removed with it, as a "moved file" of the old one)."""
    cfg, root = _config(tmp_path, "retention: {unlock_audit: {max_age_days: 30}}\n")
    audit = root / AUDIT_DIR
    (root / LOCK_NAME).write_text("")
    assert _unlock(capsys, cfg, "--force", str(root / LOCK_NAME))[0] == 0
    (old,) = audit.glob("*.json")
    (root / LOCK_NAME).write_text("")
    assert _unlock(capsys, cfg, "--force", str(root / LOCK_NAME))[0] == 0
    (new,) = set(audit.glob("*.json")) - {old}
    record = json.loads(old.read_text())
    record["moved_to"].append(str(new))
    old.write_text(json.dumps(record))
    then = time.time() - 100 * 86400
    os.utime(old, (then, then))

    assert main(["-c", str(cfg), "prune"]) == 0
    capsys.readouterr()
    assert not old.exists() and new.exists()
    assert not Path(record["moved_to"][0]).exists()  # the old record's own moved lock went
