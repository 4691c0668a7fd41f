"""The run lock `<paths.root>/.fraud-app.lock` is never left empty or cut (fraud_app.etl.lock).

It was created empty (O_CREAT | O_EXCL) and then written: a write that failed part-way (a
full disk; here a file-size limit in a child process, SIGXFSZ ignored, so write() fails
with EFBIG as on a full disk: unprivileged) or a kill in between left a lock file that
held no owner, and every later run was refused ("another fraud-app run is writing ...:
an unreadable lock file") until someone deleted it by hand."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fraud_app.etl.lock import LOCK_NAME, RootLock

ROOT = Path(__file__).resolve().parents[3]


def test_a_lock_whose_write_fails_part_way_is_not_left_behind(tmp_path):
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from fraud_app.etl.lock import RootLock
        resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))
        try:
            with RootLock({str(tmp_path)!r}, "etl"):
                sys.exit("took the lock")
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(
        f"EnvironmentSetupError cannot write the run lock {tmp_path / LOCK_NAME}: File too large"
    ), child.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # was: a 20-byte lock file
    with RootLock(str(tmp_path), "etl"):  # was: refused, "an unreadable lock file"
        assert (tmp_path / LOCK_NAME).read_text().startswith('{"pid": ')
