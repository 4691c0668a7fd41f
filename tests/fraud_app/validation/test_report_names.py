"""Concurrent validations under one run name (`--run-name nightly`, or the default, the
second they checked) each keep their own report: the name was tested with exists() and then
written, so they wrote over each other's JSON and page (6 at once kept 1-2 reports, some
pages of another run than the JSON beside them, review48b)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

_CHILD = """
import os, sys, time
from fraud_app.validation.report import ValidationReport
from fraud_app.validation.runner import CheckResult
r = CheckResult("x:finite", "ExpectColumnValuesToBeBetween", "x", "error", True)
report = ValidationReport("features", "table-" + sys.argv[2], "2024-01-01T00:00:00+00:00", (r,))
open(os.path.join(sys.argv[1], "ready-" + sys.argv[2]), "w").close()
go = os.path.join(sys.argv[1], "go")
while not os.path.exists(go):  # all start saving at once
    time.sleep(0.0005)
report.save(os.path.join(sys.argv[1], "reports"), "nightly")
"""


def test_concurrent_saves_under_one_run_name_keep_every_report(tmp_path) -> None:
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    n = 6
    children = []
    for i in range(n):
        cmd = [sys.executable, "-c", _CHILD, str(tmp_path), str(i)]
        children.append(subprocess.Popen(cmd, cwd=repo, env=env, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 300
        while len(list(tmp_path.glob("ready-*"))) < n:  # each has imported and waits
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.05)
        (tmp_path / "go").touch()
        for child in children:
            _, err = child.communicate(timeout=300)
            assert child.returncode == 0, err[-2000:]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    reports = sorted((tmp_path / "reports").glob("*.json"))
    assert len(reports) == n, [p.name for p in reports]
    tables = set()
    for path in reports:
        saved = json.loads(path.read_text())
        assert saved["json_path"] == str(path) and saved["html_path"] == str(
            path.with_suffix(".html")
        )
        page = path.with_suffix(".html").read_text(encoding="utf-8")
        assert f"Table: <code>{saved['table']}</code>" in page  # the same run's page
        tables.add(saved["table"])
    assert tables == {f"table-{i}" for i in range(n)}
    assert not [p.name for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]
