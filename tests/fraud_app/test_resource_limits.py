"""Running out of disk space, file size or open files (session 31, helper probe31b). All of
these run as a normal user: a write past the process's file-size limit (RLIMIT_FSIZE, set
in a child process with SIGXFSZ ignored, so write() fails with EFBIG instead of killing
it) stands for a disk that fills up part-way through a write; /dev/full for ENOSPC; a lowered
open-files limit (RLIMIT_NOFILE) in a child for `ulimit -n`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str, *, fsize: int | None = None, nofile: int | None = None, cwd=None):
    """Run `code` in a fresh interpreter of this tree under the given limits."""
    limits = "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    if fsize is not None:
        limits += f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))\n"
    if nofile is not None:
        limits += f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))\n"
    # no .pyc: one written under the file-size limit is cut short (a short write that
    # CPython renames into place) and breaks every later import of that module
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", limits + textwrap.dedent(code)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "writer",
    [
        "from dlcore.serialization.files import write_json_atomic as w; w(p, {'x': 'y' * 5000})",
        "from fraud_app.jsonout import write_atomic as w; w(p, 'y' * 5000)",
        "from dashboards.render import _write as w; w(p, 'y' * 5000)",
    ],
    ids=["dlcore.write_json_atomic", "jsonout.write_atomic", "dashboards._write"],
)
def test_a_write_that_fails_part_way_names_its_file_and_leaves_the_old_one(tmp_path, writer):
    """Was: `OSError: [Errno 27] File too large` without a file name (the CLI printed
    `error: File too large (OSError)`), and the dashboards left `.<page>.tmp` behind,
    holding the space."""
    target = tmp_path / "record.json"
    target.write_text('{"old": true}')
    result = _child(
        f"""
        import errno, sys
        from pathlib import Path
        p = Path({str(target)!r})
        try:
            {writer}
        except OSError as exc:
            print(exc.errno == errno.EFBIG, exc.filename)
        """,
        fsize=2048,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", str(target)]
    assert json.loads(target.read_text()) == {"old": True}  # the old file is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]  # no part file


def test_write_new_leaves_no_part_file_when_the_write_fails(tmp_path):
    """write_new's exclusive-create fallback (a file system without hard links) wrote in
    place: a part file left by a full disk was later read as the whole record, and a
    re-run found it "already there"."""
    target = tmp_path / "r.json"
    result = _child(
        f"""
        from pathlib import Path
        from fraud_app.jsonout import _create_whole
        try:
            _create_whole(Path({str(target)!r}), "y" * 5000)
        except OSError as exc:
            print(exc.errno)
        """,
        fsize=2048,
    )
    assert result.stdout.split() == ["27"], result.stderr[-3000:]  # EFBIG
    assert not target.exists()


def test_the_cli_names_the_file_the_limit_and_what_to_do(tmp_path):
    """`fraud-app dashboards` whose page write fails part-way: one line naming the file,
    the setting that chose its place and what to do; no part page left behind. Was
    `error: File too large (OSError)` and `.index.html.tmp` left."""
    (tmp_path / "config.yaml").write_text(
        f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n"
    )
    (tmp_path / "work").mkdir()
    result = _child(
        """
        import sys
        from pipelines.cli import main
        sys.exit(main(["-c", "config.yaml", "dashboards"]))
        """,
        fsize=200,
        cwd=tmp_path,
    )
    page = tmp_path / "work" / "reports" / "dashboards" / "index.html"
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert errors[0].startswith(f"error: file too large writing {page} (paths.reports)")
    assert "(200 bytes, `ulimit -f`)" in errors[0] and "fraud-app dashboards` again" in errors[0]
    assert not list(page.parent.glob(".*tmp"))


def test_a_spark_jvm_below_its_open_files_limit_is_refused_naming_the_limit(tmp_path):
    """`ulimit -n 256`: the JVM could not open its 280 jars. Was `Spark could not start on
    master 'local[1]': [JAVA_GATEWAY_EXITED] ... Check spark.master / --master and
    spark.conf in the config` after the JVM's failed start."""
    result = _child(
        """
        from fraud_app.errors import EnvironmentSetupError
        from fraud_app.spark.session import get_spark
        try:
            get_spark("local[1]")
        except EnvironmentSetupError as exc:
            print(exc)
        """,
        nofile=200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "this process may open at most 200 files (`ulimit -n`, hard limit)" in result.stdout
    assert "ulimit -n 4096" in result.stdout
    assert "JAVA_GATEWAY_EXITED" not in result.stdout + result.stderr


def test_a_low_soft_limit_is_raised_within_the_hard_one():
    result = _child(
        """
        import resource
        from fraud_app.spark.fd_limit import check_open_files, needed_open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        check_open_files()
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed_open_files())
        """
    )
    assert result.stdout.strip() == "True", result.stderr[-3000:]


def test_a_full_sqlite_store_is_named_by_its_setting(tmp_path, capsys):
    """MLflow's sqlite store full (a real SQLITE_FULL: the database at its page limit) under
    the tracking worker's TrackingError. Was 4 lines: `error: tracking: config failed:
    (sqlite3.OperationalError) database or disk is full`, the SQL statement, its
    parameters (2 KB of config values), SQLAlchemy's link; no store named."""
    import sqlite3

    from fraud_app.config import load_config
    from fraud_app.errors import TrackingError
    from pipelines.cli_failures import failed

    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("create table params (value blob)")
    con.execute("pragma max_page_count = 2")
    try:
        try:
            con.execute("insert into params values (?)", (b"x" * 100000,))
        except sqlite3.OperationalError as exc:
            raise TrackingError(f"tracking: config failed: {exc}\n[SQL: INSERT ...]") from exc
    except TrackingError as exc:
        failure = exc
    (tmp_path / "c.yaml").write_text(
        f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{uri: 'sqlite:///{db}'}}\n"
    )
    config = load_config(str(tmp_path / "c.yaml"), {})
    assert failed("train", failure, config=config) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no space left on device writing {db} (tracking.uri); ")
    assert "or set tracking.uri to a larger disk, then run `fraud-app train` again" in err
    assert len(err.splitlines()) == 1


def test_our_own_errors_quoting_the_data_are_not_taken_for_a_full_disk():
    from fraud_app import exhaustion
    from fraud_app.errors import SchemaError

    assert exhaustion.find(SchemaError("merchant_id 'No space left on device' ...")) is None


def test_a_logged_model_cut_short_is_named_not_claimed_discarded(tmp_path):
    """MLflow writes a logged model's artifacts in place: the part stays (88 KiB in the
    probe), so the line names it instead of saying it was discarded."""
    from fraud_app import exhaustion

    store = tmp_path / "mlartifacts"
    model = store / "models" / "m-93fd14c97c174490a6e4cd9f3055b6e0"
    found = exhaustion.Exhaustion(exhaustion.SPACE, f"{model}/artifacts/ensemble/params.npz")
    line = exhaustion.message(found, "train", {"tracking.artifact_location": str(store)})
    assert "(tracking.artifact_location)" in line and "discarded" not in line
    assert line.endswith(
        f"the unregistered logged model it was writing is left in {model} (nothing reads "
        "it): delete it to get its space back"
    )


def test_spark_scratch_space_names_spark_local_dirs_when_the_environment_sets_it(
    tmp_path, monkeypatch
):
    """Spark puts its shuffle files under SPARK_LOCAL_DIRS before spark.local.dir: the line
    named spark.local.dir (or /tmp) and told the user to change a setting Spark ignored."""
    from fraud_app import exhaustion
    from fraud_app.config import load_config
    from pipelines.exhausted import places

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False,
                                "spark.conf": {"spark.local.dir": "/elsewhere"}})  # fmt: skip
    found = exhaustion.Exhaustion(exhaustion.SPACE, None, "spark.local.dir")
    monkeypatch.delenv("SPARK_LOCAL_DIRS", raising=False)
    line = exhaustion.message(found, "features", places(config))
    assert "writing /elsewhere (spark.local.dir)" in line, line
    monkeypatch.setenv("SPARK_LOCAL_DIRS", f"{scratch},/other")
    line = exhaustion.message(found, "features", places(config))
    assert f"writing {scratch} (SPARK_LOCAL_DIRS)" in line, line
    assert "or set SPARK_LOCAL_DIRS to a larger disk" in line, line


def test_a_full_disk_under_local_root_names_the_setting_that_chose_it(tmp_path):
    """review44a: reports, models and checkpoints lie under paths.local_root; the line
    looked for them under paths.root (a remote root: named no setting at all)."""
    from fraud_app import exhaustion
    from fraud_app.config import load_config
    from pipelines.exhausted import places

    config = load_config(None, {"paths.root": "hdfs://nn:8020/fraud", "tracking.enabled": False,
                                "paths.local_root": str(tmp_path)})  # fmt: skip
    found = places(config)
    for name, file in [("reports", "reports/training-r1.json"), ("models", "models/r1/m.npz"),
                       ("local_root", ".fraud-app.lock"), ("checkpoints", "checkpoints/r1/x")]:  # fmt: skip
        assert exhaustion.setting_for(str(tmp_path / file), found) == f"paths.{name}", name
    assert found["paths.canonical"] == "hdfs://nn:8020/fraud/canonical"
