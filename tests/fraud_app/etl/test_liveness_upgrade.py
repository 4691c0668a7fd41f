"""Records this host cannot judge, as a laptop upgraded to session 40 meets them (review40b).

A commit marker left by a killed `etl --mode append` of a release before session 40 (no
`pid_ns`, no `format`) on this very host reads as "elsewhere" (etl.lock.liveness cannot
prove its PID namespace). The refusal told the operator to "run `fraud-app etl` again (the
same input) on <this host>", where the same refusal came back, without saying why this
host could not tell.

Where /proc/self/ns/pid cannot be read (an old kernel, a hardened container) the record's
namespace and this process's were both None, read as the same namespace: a record without
`pid_ns` (an older release's, a container's on such a system) whose pid is gone here was
judged dead and its lock taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError, DataIntegrityError
from fraud_app.etl import lock
from fraud_app.etl.lock import LOCK_NAME, RootLock, liveness, owner_info, process_start
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import _cfg, _first_delivery, _row, _write

LINUX = process_start(os.getpid()) is not None
pytestmark = pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _legacy(pid: int) -> dict:
    """owner_info as sessions 36-39 wrote it: no pid_ns, machine_id or format."""
    info = owner_info()
    for key in ("pid_ns", "machine_id"):
        info.pop(key)
    return {**info, "pid": pid}


def test_an_unknown_pid_namespace_on_both_sides_is_not_the_same_namespace(tmp_path, monkeypatch):
    pid = _dead_pid()
    monkeypatch.setattr(lock, "pid_namespace", lambda: None)  # /proc/self/ns/pid unreadable
    assert liveness({**owner_info(), "pid": pid}) == (
        None, "this system does not show PID namespaces (/proc/self/ns/pid)"
    )  # fmt: skip
    (tmp_path / LOCK_NAME).write_text(json.dumps({**_legacy(pid), "command": "etl"}))
    with pytest.raises(ConcurrentRunError, match=r"does not show PID namespaces"):
        RootLock(str(tmp_path), "etl").__enter__()
    assert (tmp_path / LOCK_NAME).exists()


def test_an_older_releases_lock_says_why_it_cannot_be_judged(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "INIT_PID_NS", "pid:[0]")  # a container (session 41's rule)
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({**_legacy(pid), "command": "etl"}))
    with pytest.raises(ConcurrentRunError) as err:
        RootLock(str(tmp_path), "etl").__enter__()
    text = str(err.value)
    assert "it recorded no PID namespace (a fraud-app release before session 40" in text, text
    assert (  # in the namespace it ran in, which this container cannot see (session 43)
        f"not recorded; a run or `fraud-app unlock` on the machine itself, outside any "
        f"container, takes it over if its pid is gone): `ps -p {pid}` there" in text
    ), text
    assert f"or none)), clear it with `fraud-app unlock --force {tmp_path / LOCK_NAME}`" in text


@pytest.mark.spark
def test_an_older_releases_marker_on_this_host_names_a_way_out_that_works_here(
    spark, tmp_path, monkeypatch
):
    monkeypatch.setattr(lock, "INIT_PID_NS", "pid:[0]")  # a container (session 41's rule)
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table = Path(first.output_path)
    staged = table / "_staging" / "etl-20261101T000000-0a0a0a0a"
    staged.mkdir(parents=True)
    marker = staged / "_committing.json"
    pid = _dead_pid()
    marker.write_text(json.dumps({**_legacy(pid), "dates": ["2024-01-02"]}))
    host = socket.gethostname()
    for check in (
        lambda: read_table(spark, str(table), "canonical table", "etl"),
        lambda: run_etl(spark, _cfg(tmp_path, _write(tmp_path / "d3" / "c.csv", [_row("t50", 7)]))),
    ):  # fmt: skip
        with pytest.raises((DataIntegrityError, ConcurrentRunError)) as err:
            check()
        text = str(err.value)
        assert f"again (the same input) on {host}" not in text, text  # a loop: refused again
        assert "it recorded no PID namespace (a fraud-app release before session 40" in text
        assert (
            f"once sure pid {pid} is gone (`ps -p {pid}`), rename {marker} to _killed.json" in text
        )
    marker.rename(staged / "_killed.json")  # the way out the message names
    run_etl(spark, _cfg(tmp_path, _write(tmp_path / "d4" / "d.csv", [_row("t60", 8)])))
    read_table(spark, str(table), "canonical table", "etl")
    assert not (table / "_staging").exists()


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\n", b"", b"   \n"])
def test_a_machine_id_that_is_not_text_reads_as_none(tmp_path, monkeypatch, content):
    """/etc/machine-id damaged (not UTF-8): owner_info raised UnicodeDecodeError, so every
    run stopped before taking its lock."""
    (tmp_path / "machine-id").write_bytes(content)
    monkeypatch.setattr(lock, "MACHINE_ID", tmp_path / "machine-id")
    assert lock.machine_id() is None
    with RootLock(str(tmp_path), "etl"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["machine_id"] is None


def _macos(monkeypatch) -> None:
    """This process as on macOS: no /proc (no start times, no PID namespace, no machine id)."""
    monkeypatch.setattr(lock, "PLATFORM", "darwin")
    monkeypatch.setattr(lock, "process_start", lambda pid: None)
    monkeypatch.setattr(lock, "pid_namespace", lambda: None)
    monkeypatch.setattr(lock, "machine_id", lambda: None)


def test_on_macos_a_gone_pid_of_this_host_frees_its_lock(tmp_path, monkeypatch):
    """Lead, session 40: after review40b every lock of a killed run on a Mac (no /proc)
    was refused until deleted by hand; a system without PID namespaces lets the pid decide,
    as before session 40. A live pid, another host, or a Linux record stay refused."""
    pid = _dead_pid()
    _macos(monkeypatch)
    mine = owner_info()
    assert (mine["process_start"], mine["pid_ns"], mine["machine_id"]) == (None, None, None)
    assert liveness({**mine, "pid": pid}) == (False, f"pid {pid} is gone")
    assert liveness(mine)[0] is True  # this process
    assert liveness({**mine, "pid": pid, "host": "another-mac"})[0] is None
    linux_record = {**mine, "pid": pid, "process_start": "b00t:123", "pid_ns": "pid:[1]"}
    assert liveness(linux_record)[0] is None  # written on Linux under this hostname
    (tmp_path / LOCK_NAME).write_text(json.dumps({**mine, "pid": pid, "command": "etl"}))
    with RootLock(str(tmp_path), "etl"):
        held = json.loads((tmp_path / LOCK_NAME).read_text())
        assert held["pid"] == os.getpid()
    monkeypatch.setattr(lock, "PLATFORM", "linux")  # Linux without /proc: cannot tell
    assert liveness({**mine, "pid": pid})[0] is None
