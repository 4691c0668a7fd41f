"""`fraud-app prune` probed from outside (helper probe32d, session 32): a tracking store
that is not the one `train` wrote to, a max_age_days past what a timedelta holds, files a
person put under reports/ that only look like records. Real files under paths.root and a
real MLflow registry on sqlite (the fixture of test_prune)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.prune.pipeline import prune
from tests.pipelines.test_prune import RUNS, _config, _files, _names, _write, build_project

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path, fresh_store, monkeypatch):
    """test_prune's project: 8 training runs, r2 champion, r5 challenger, r3 a source."""
    return build_project(tmp_path, fresh_store, monkeypatch)


def _tracked(root: Path, ids: dict) -> None:
    """Each training report names its MLflow run, as `train` with tracking on writes it."""
    for run in RUNS:
        path = root / "reports" / f"training-{run}.json"
        report = json.loads(path.read_text())
        stat = path.stat()
        path.write_text(json.dumps({**report, "mlflow_run_id": ids[run][0]}))
        os.utime(path, (stat.st_atime, stat.st_mtime))


def _cfg(root: Path, tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: '{root}'}}\n{extra}retention:\n  training_runs: {{keep_last: 1}}\n"
    )
    return cfg


@pytest.mark.parametrize("elsewhere", ["missing", "empty"])
def test_a_store_that_is_not_trains_removes_nothing(
    project, tmp_path, capsys, monkeypatch, mlflow_template, elsewhere
):
    """MLFLOW_TRACKING_URI (a scheduler's environment) names another store than the one
    `train` wrote to. Before: that store read as empty, no alias held a run, and the
    champion's (r2), challenger's (r5) and a version's source run (r3) were removed."""
    root, _, ids = project
    _tracked(root, ids)
    other = tmp_path / "other"
    other.mkdir()
    if elsewhere == "empty":
        mlflow_template.copy_to(other)  # a migrated, empty store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other / 'mlflow.db'}")
    cfg = _cfg(root, tmp_path)
    before = _files(root)
    assert main(["-c", str(cfg), "prune"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "not the store `train` wrote to" in lines[0] and "nothing was removed" in lines[0]
    assert ("does not exist" if elsewhere == "missing" else "holds none of them") in lines[0]
    assert _files(root) == before
    assert not (other / "mlflow.db").exists() or elsewhere == "empty"  # nothing created there


def test_tracking_off_with_a_server_uri_removes_nothing(project, tmp_path, capsys):
    """tracking.enabled false (the remedy an unreachable server's error names) with a server
    URI: the registry was not read at all, and the aliased runs were removed."""
    root, _, ids = project
    _tracked(root, ids)
    extra = "tracking: {enabled: false, uri: 'http://127.0.0.1:9'}\n"
    cfg = _cfg(root, tmp_path, extra)
    before = _files(root)
    assert main(["-c", str(cfg), "prune"]) == 2
    err = capsys.readouterr().err
    assert "is not read with tracking.enabled false" in err and "nothing was removed" in err
    assert _files(root) == before


def test_the_store_train_wrote_to_prunes_as_before(project, tmp_path):
    root, _, ids = project
    _tracked(root, ids)
    result = prune(_config(root, training_runs={"keep_last": 1}))
    assert _names(result, "training_runs") == {"r0", "r1", "r4"}  # r2, r3, r5 held by the registry


def test_a_max_age_past_a_timedelta_keeps_everything(project, tmp_path, capsys):
    """max_age_days 1e9 (a 'keep for ever' written as a big number). Before: OverflowError
    from timedelta(days=1e9) ("must have magnitude <= 999999999"), exit 1 with a trace."""
    root, _, _ = project
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: '{root}'}}\nretention:\n  scoring_reports: {{max_age_days: 1.0e9}}\n"
    )
    assert main(["-c", str(cfg), "prune"]) == 0
    out = capsys.readouterr().out
    assert "0 scoring reports" in out and "younger than max_age_days 1e+09" in out
    assert len(list((root / "reports").glob("scoring-*.json"))) == 5


def test_files_put_there_by_hand_stay(project, tmp_path, caplog):
    """Files a person put under reports/ whose names fraud-app never gives (it checks every
    run, job and report name: letters, digits, '.', '_', '-'). Before: removed as a scoring
    report, a training run ('my notes', with models/my notes/) and a validation report."""
    root, _, _ = project
    hand = [
        _write(root / "reports" / "scoring-notes by hand.json", "my notes", days=100),
        _write(root / "reports" / "training-my notes.json", "{}", days=100),
        _write(root / "models" / "my notes" / "weights.txt", "mine", days=100),
        _write(root / "reports" / "features_validation-ünï.json", "{}", days=100),
        _write(root / "reports" / "evaluation-q1 review.json", "{}", days=100),
    ]
    caplog.set_level("INFO")
    rules = {
        k: {"keep_last": 1}
        for k in ("training_runs", "scoring_reports", "validation_reports", "job_reports")
    }
    result = prune(_config(root, **rules))
    assert all(p.exists() for p in hand)
    assert _names(result, "training_runs") == {"r0", "r1", "r4"}
    assert _names(result, "scoring_reports") == {f"scoring-job{i}" for i in range(4)}
    assert (
        "prune: keeping training run my notes: 'my notes' is not a name fraud-app gives"
        in caplog.text
    )


def test_a_report_dated_in_the_future_does_not_stand_in_for_the_newest(project, caplog):
    """A scoring summary copied from a host whose clock is 10 days ahead. Before: it was
    "the newest", and keep_last 1 removed the real newest (scoring-job4)."""
    root, _, _ = project
    ahead = _write(root / "reports" / "scoring-copied.json", "{}", days=-10)
    caplog.set_level("INFO")
    result = prune(_config(root, scoring_reports={"keep_last": 1}))
    assert _names(result, "scoring_reports") == {f"scoring-job{i}" for i in range(4)}
    assert ahead.exists() and (root / "reports" / "scoring-job4.json").exists()
    assert "prune: keeping scoring report scoring-copied: dated in the future" in caplog.text


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_remote_roots_test_scores_are_named_as_left_there(project, caplog, dry_run):
    """review44a: with a URI root (paths.local_root holding models and reports) a removed
    run's `test-scores/<run>` on HDFS was left there unsaid. Now each is named, with the
    command that removes it, and the summary counts them."""
    from fraud_app.config import load_config
    from pipelines.prune.pipeline import summary

    root, _, ids = project
    _tracked(root, ids)
    config = load_config(None, {"paths.root": "hdfs://nn:8020/fraud", "paths.local_root": str(root),
                                "retention.training_runs": {"keep_last": 1}})  # fmt: skip
    with caplog.at_level("WARNING", logger="pipelines.prune.pipeline"):
        result = prune(config, dry_run=dry_run)
    assert _names(result, "training_runs") == {"r0", "r1", "r4"}  # as with a local root
    verb = "would leave" if dry_run else "left"
    for run in ("r0", "r1", "r4"):
        place = f"hdfs://nn:8020/fraud/test-scores/{run}"
        assert (
            f"prune: {verb} the test scores {place}: paths.test_scores is on remote " in caplog.text
        )
        assert f"`hdfs dfs -rm -r {place}`" in caplog.text
    assert "3 run(s)' test scores left on remote storage" in summary(result)
    assert ("r2" in os.listdir(root / "models")) and (
        ("r0" in os.listdir(root / "models")) == dry_run
    )
