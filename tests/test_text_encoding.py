"""Every text file the product reads or writes names its encoding (helper probe49c,
session 49). A call without one uses the locale's codec: under LANG=C / LC_ALL=C with
UTF-8 mode off (a cron job, a minimal container, `python -X utf8=0`) that is ASCII, and a
report, record or spec holding a non-ASCII text (a merchant name, a fraud pattern `carte
clonée`) raised UnicodeDecodeError, which several readers catch as ValueError and read as
"no record": `prune` lost the MLflow run of a training report and left it undeleted."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("fraud_app", "pipelines", "dashboards", "dlcore")  # pyproject's packages
RUNNERS = {"run", "check_output", "check_call", "call", "Popen"}


def _mode(call: ast.Call, position: int) -> str | None:
    for k in call.keywords:
        if k.arg == "mode" and isinstance(k.value, ast.Constant):
            return k.value.value
    if len(call.args) > position and isinstance(call.args[position], ast.Constant):
        return call.args[position].value
    return None


def _needs_encoding(call: ast.Call) -> bool:
    """A text-mode file or process call: builtin/io open, os.fdopen, Path.open/read_text/
    write_text, NamedTemporaryFile, subprocess with text=True. fraud_app.etl.fs's
    `fs.read_text(path)` / `fs.write_text(path, text)` (one / two positional arguments)
    encode UTF-8 themselves; Hadoop's `fs.open(path)` is binary."""
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    n_args = len(call.args)
    builtin = isinstance(f, ast.Name) or getattr(getattr(f, "value", None), "id", "") == "io"
    if (name == "open" and builtin) or name in {"fdopen", "TextIOWrapper"}:
        mode = _mode(call, 1)
    elif name == "open":  # Path.open(mode): text by default; a non-constant argument is Hadoop's
        if n_args and not isinstance(call.args[0], ast.Constant):
            return False
        mode = _mode(call, 0)
    elif name == "read_text":
        return n_args == 0
    elif name == "write_text":
        return n_args == 1
    elif name in {"NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"}:
        mode = _mode(call, 0) or "w+b"
    elif name in RUNNERS:
        return any(
            k.arg in {"text", "universal_newlines"}
            and isinstance(k.value, ast.Constant)
            and k.value.value
            for k in call.keywords
        )
    else:
        return False
    return not (isinstance(mode, str) and "b" in mode)


def test_every_text_file_call_names_an_encoding() -> None:
    missing = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and _needs_encoding(node)
                    and "encoding" not in {k.arg for k in node.keywords}
                ):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not missing, "text I/O in the locale's encoding:\n" + "\n".join(missing)


def test_the_static_check_sees_each_kind_of_call() -> None:
    """The check above cannot pass by seeing nothing."""
    flagged = [
        "open(p)", "open(p, 'w')", "io.open(p)", "p.read_text()", "p.write_text(t)",
        "p.open()", "p.open('a')", "os.fdopen(fd, 'w')", "tempfile.NamedTemporaryFile('w')",
        "subprocess.run(a, text=True)",
    ]  # fmt: skip
    fine = [
        "open(p, 'rb')", "p.open('wb')", "p.read_text(encoding='utf-8')", "fs.read_text(p)",
        "fs.write_text(p, t)", "hadoop.open(p)", "subprocess.run(a)",
        "tempfile.NamedTemporaryFile()", "open(p, encoding='utf-8')",
    ]  # fmt: skip

    def check(src: str) -> bool:
        call = ast.parse(src).body[0].value
        return _needs_encoding(call) and "encoding" not in {k.arg for k in call.keywords}

    assert [s for s in flagged if not check(s)] == []
    assert [s for s in fine if check(s)] == []


def test_prune_finds_the_mlflow_run_of_a_non_ascii_report_under_a_c_locale(tmp_path) -> None:
    """A training report naming a fraud pattern `carte clonée`, read by `prune` in a
    process whose locale is C (ASCII). Before: the report read as unreadable, its MLflow
    run unknown, and `retention.mlflow_runs: true` left that run undeleted."""
    reports = tmp_path / "reports"
    reports.mkdir()
    report = {"mlflow_run_id": "abc123", "by_pattern": {"carte clonée": {"recall": 0.5}}}
    (reports / "training-r1.json").write_text(
        json.dumps(report, ensure_ascii=False), encoding="utf-8"
    )
    script = textwrap.dedent(
        f"""
        import json, locale
        from fraud_app.config import load_config
        from pipelines.prune.inventory import reported_mlflow_runs
        config = load_config(None, {{"paths.root": {str(tmp_path)!r}}})
        print(json.dumps([locale.getpreferredencoding(False),
                          reported_mlflow_runs(config)]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIOENC"))}
    env.update(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script],
        capture_output=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    codec, found = json.loads(out.stdout.decode("utf-8").splitlines()[-1])
    assert codec.lower() in {"ansi_x3.4-1968", "ascii", "us-ascii"}  # the test means something
    assert found == {"r1": "abc123"}
