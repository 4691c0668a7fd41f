"""`fraud-app prune`: the retention rules over real files under paths.root and a real MLflow
registry on sqlite (runs tagged as `train` tags them, versions with aliases, a version
registered from a run's model directory, model-cache entries downloaded by resolve_model).
No Spark: prune reads and removes files and asks the registry.

Before (499c392) nothing removed anything: `reports/scoring-*.json`, `models/<run>`,
`test-scores/<run>`, the validation reports, the model cache and the MLflow runs grew with
every daily run (probe31c, the lead's session 31 Left)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import mlflow
import pytest

from fraud_app.etl.lock import owner_info
from fraud_app.tracking.models import resolve_model
from pipelines.cli import main
from pipelines.prune.pipeline import prune, summary
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC)
# r0 oldest ... r6 newest; rL is locked by a live process, rX is being trained (no report)
RUNS = ["r0", "r1", "r2", "r3", "r4", "rL", "r5", "r6"]


def _write(path: Path, text: str = "x" * 100, days: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if days is not None:
        _age(path, days)
    return path


def _age(path: Path, days: float) -> None:
    t = (NOW - dt.timedelta(days=days)).timestamp()
    os.utime(path, (t, t))


def _training_run(root: Path, run: str, days: float) -> None:
    h.linear_ensemble(1.0).save(root / "models" / run)
    _write(root / "test-scores" / run / "part-00000.parquet")
    _write(root / "reports" / "dashboards" / run / "index.html")
    evaluations = {}
    for window in ("validation", "test"):
        evaluations[window] = str(
            _write(root / "reports" / f"evaluation-{run}-{window}.json", "{}", days)
        )
    report = {"run": run, "model_path": str(root / "models" / run), "evaluations": evaluations}
    _write(root / "reports" / f"training-{run}.json", json.dumps(report), days)


def _files(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "mlflow.db" and "model-cache" not in p.parts
    }


@pytest.fixture
def project(tmp_path, fresh_store, monkeypatch):
    return build_project(tmp_path, fresh_store, monkeypatch)


def build_project(tmp_path, fresh_store, monkeypatch):
    """paths.root = tmp_path with 8 training runs, 5 scoring summaries, validation reports,
    a backtest, a tune and an evaluation, and a registry: v1 (r2's run) champion, v2 (r4's)
    no alias, v3 registered from r3's model directory, v4 (r5's) challenger."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path
    for i, run in enumerate(RUNS):
        _training_run(root, run, days=80 - 10 * i)
    _write(root / "checkpoints" / "rX" / "member-00" / "LATEST.json")  # in progress
    _write(root / "test-scores" / "rX" / "part-00000.parquet")
    h.linear_ensemble(3.0).save(root / "models" / "imported")  # import-onnx OUT_DIR: no report
    lock = {**owner_info(), "command": "train --run rL"}  # this process: alive
    _write(root / "models" / ".rL.lock", json.dumps(lock))
    for i in range(5):
        _write(root / "reports" / f"scoring-job{i}.json", "{}", days=50 - 10 * i)
    for i in range(3):
        for table in ("canonical", "features"):
            for ext in ("json", "html"):
                _write(
                    root / "reports" / f"{table}_validation-2024010{i}T000000Z.{ext}",
                    "{}",
                    30 - 10 * i,
                )
    _write(root / "reports" / "backtest-b1.json", "{}", days=40)
    _write(root / "reports" / "dashboards" / "backtests" / "b1.html", "{}", days=40)
    for name, days in (("t0", 50), ("t1", 40)):
        _write(root / "reports" / f"tune-{name}.json", "{}", days)
        _write(root / "reports" / f"tune-{name}-best.yaml", "{}", days)
    _write(root / "reports" / "evaluation-e0.json", "{}", days=50)
    _write(root / "reports" / "evaluation-e1.json", "{}", days=20)

    uri = f"sqlite:///{fresh_store}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("fraud-app", artifact_location=str(root / "mlartifacts"))
    ids = {}
    for run in RUNS:
        parent = client.create_run(exp, tags={"fraud_app.run": run, "fraud_app.kind": "training"})
        child = client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id})
        ids[run] = (parent.info.run_id, child.info.run_id)
    client.create_registered_model("fraud-ensemble")
    sources = {}
    for version, (run, source) in enumerate(
        [("r2", root / "elsewhere" / "v1"), ("r4", root / "elsewhere" / "v2"),
         ("r3", root / "models" / "r3"), ("r5", root / "elsewhere" / "v4")], start=1,
    ):  # fmt: skip
        if not source.exists():
            h.linear_ensemble(float(version)).save(source)
        client.create_model_version("fraud-ensemble", str(source), run_id=ids[run][0])
        sources[version] = source
    client.set_registered_model_alias("fraud-ensemble", "champion", "1")
    client.set_registered_model_alias("fraud-ensemble", "challenger", "4")
    return root, client, ids


def _config(root: Path, **rules):
    return h.config(root, **{f"retention.{k}": v for k, v in rules.items()})


def _names(result, kind: str) -> set[str]:
    return {item.name for item in result.kinds[kind].removed}


def _cache(config, version: str, days: float) -> Path:
    entry = resolve_model(f"models:/fraud-ensemble/{version}", config=config).directory
    while entry.parent.name != "model-cache":
        entry = entry.parent
    _age(entry, days)
    return entry


RULES = {
    "training_runs": {"keep_last": 1},
    "scoring_reports": {"max_age_days": 25},
    "validation_reports": {"keep_last": 1},
    "job_reports": {"max_age_days": 30},
    "model_cache": {"max_age_days": 5},
    "mlflow_runs": True,
}


def test_prune_removes_exactly_what_no_rule_keeps_and_never_the_champion(project):
    root, client, ids = project
    config = _config(root, **RULES)
    cached = {v: _cache(config, v, days) for v, days in (("1", 40), ("2", 30), ("3", 20))}

    before = _files(root)
    dry = prune(config, dry_run=True)
    assert _files(root) == before  # a dry run removes nothing
    assert all(p.is_dir() for p in cached.values())
    assert all(client.get_run(i).info.lifecycle_stage == "active" for p in ids.values() for i in p)

    result = prune(config)
    for r in (dry, result):
        assert _names(r, "training_runs") == {"r0", "r1", "r4"}
        assert _names(r, "scoring_reports") == {
            "scoring-job0",
            "scoring-job1",
            "scoring-job2",
        }  # 50, 40, 30 days
        assert _names(r, "validation_reports") == {
            f"{t}_validation-2024010{i}T000000Z" for t in ("canonical", "features") for i in (0, 1)
        }
        assert _names(r, "job_reports") == {"tune-t0", "evaluation-e0"}  # b1: its newest
        assert _names(r, "model_cache") == {cached["2"].name}
    assert dry.freed == result.freed > 0
    kept = {d.item.name: d.why for d in result.kinds["training_runs"].kept}
    assert kept == {
        "r6": "the newest",
        "r5": "fraud-ensemble v4 holds alias challenger",
        "rL": kept["rL"],
        "r3": "fraud-ensemble v3's source",
        "r2": "fraud-ensemble v1 holds alias champion",
        "rX": "not finished (being trained, or interrupted: `train --run` resumes it)",
        "imported": "no report training-imported.json: not a training run's model",
    }
    assert kept["rL"].startswith("its run-name lock is held by train --run rL (pid")

    after = _files(root)
    gone = set(before) - set(after)
    runs = {run: {f for f in before if _of(run, f)} for run in [*RUNS, "rX"]}
    assert all(len(runs[run]) == 12 for run in RUNS)  # model (7), test scores, page, 3 reports
    expected = runs["r0"] | runs["r1"] | runs["r4"] | {
        "reports/tune-t0.json", "reports/tune-t0-best.yaml", "reports/evaluation-e0.json",
        *(f"reports/scoring-job{i}.json" for i in range(3)),
        *(f"reports/{t}_validation-2024010{i}T000000Z.{ext}"
          for t in ("canonical", "features") for i in (0, 1) for ext in ("json", "html")),
    }  # fmt: skip
    assert gone == expected
    assert FraudEnsemble_loads(root / "models" / "r2")  # the champion's run
    assert cached["1"].is_dir() and cached["3"].is_dir() and not cached["2"].exists()

    stage = {run: [client.get_run(i).info.lifecycle_stage for i in ids[run]] for run in ids}
    assert stage["r0"] == stage["r1"] == ["deleted", "deleted"]  # no version came from them
    assert stage["r4"] == ["active", "active"]  # v2 came from it: kept in MLflow
    assert all(stage[r] == ["active", "active"] for r in ("r2", "r3", "r5", "r6", "rL"))
    assert result.mlflow_runs == 4

    line = summary(result)
    assert line.startswith("prune: removed 3 training runs, 3 scoring reports, 4 validation "
                           "reports, 2 job reports, 1 model-cache entry: ")  # fmt: skip
    assert "4 MLflow run(s) deleted (`mlflow gc` frees their artifacts)" in line
    assert "1 fraud-ensemble v1 holds alias champion" in line

    again = prune(config)  # nothing more to remove
    assert sum(len(k.removed) for k in again.kinds.values()) == 0


def _of(run: str, f: str) -> bool:
    """Whether file `f` (relative to the root) is one of training run `run`'s."""
    parts = Path(f).parts
    return (len(parts) > 1 and parts[1] == run and parts[0] in ("models", "test-scores")) or (
        f"dashboards/{run}/" in f or f in (f"reports/training-{run}.json",)
        or f.startswith(f"reports/evaluation-{run}-")
    )  # fmt: skip


def FraudEnsemble_loads(directory: Path) -> bool:
    from fraud_app.models.ensemble import FraudEnsemble

    return len(FraudEnsemble.load(directory).members) == 2


def test_defaults_keep_everything(project):
    root, client, ids = project
    before = _files(root)
    result = prune(h.config(root))
    assert _files(root) == before
    assert sum(len(k.removed) for k in result.kinds.values()) == 0
    assert all(client.get_run(i).info.lifecycle_stage == "active" for p in ids.values() for i in p)


def test_the_champion_stays_whatever_the_rule(project):
    """keep_last 1 and max_age_days far below every run's age: the champion's, the
    challenger's and the registered source's runs stay, and the newest."""
    root, _, _ = project
    config = _config(root, training_runs={"keep_last": 1, "max_age_days": 0.001})
    prune(config)
    left = {p.name for p in (root / "models").iterdir() if not p.name.startswith(".")}
    assert left == {"r2", "r3", "r5", "r6", "rL", "imported"}


def test_the_cli_dry_run_lists_and_the_summary_goes_to_stdout(project, tmp_path, capsys, caplog):
    root, _, _ = project
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: {json.dumps(str(root))}}}\nretention: {{scoring_reports: {{keep_last: 2}}}}\n"
    )
    before = _files(root)
    assert main(["-c", str(cfg), "prune", "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    err = caplog.text
    assert _files(root) == before
    assert out.count("\n") == 1 and out.startswith(
        "prune: would remove 0 training runs, 3 scoring reports"
    )
    assert "nothing was removed (--dry-run)" in out
    assert err.count("prune: would remove scoring report") == 3
    assert "scoring-job0.json" in err

    assert main(["-c", str(cfg), "prune"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("prune: removed 0 training runs, 3 scoring reports")
    assert sorted(p.name for p in (root / "reports").glob("scoring-*")) == [
        "scoring-job3.json", "scoring-job4.json"
    ]  # fmt: skip


def test_a_bad_rule_is_one_line(project, tmp_path, capsys):
    root, _, _ = project
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: {json.dumps(str(root))}}}\nretention: {{training_runs: {{keep_last: 0}}}}\n"
    )
    assert main(["-c", str(cfg), "prune"]) == 2
    err = capsys.readouterr().err
    assert (
        "retention.training_runs.keep_last: Input should be greater than or equal to 1 (received 0)"
        in err
    )


def test_a_store_that_cannot_answer_removes_nothing(project, tmp_path, capsys):
    """The registry says what must stay: without it, nothing is removed (one line, exit 2)."""
    root, _, _ = project
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: {json.dumps(str(root))}}}\n"
        "tracking: {uri: 'http://127.0.0.1:9', connect_timeout_s: 1}\n"
        "retention: {training_runs: {keep_last: 1}, scoring_reports: {keep_last: 1}}\n"
    )
    before = _files(root)
    assert main(["-c", str(cfg), "prune"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tracking server http://127.0.0.1:9 cannot be reached within 1s")
    assert err.count("\n") == 1 and err.rstrip().endswith(
        "prune reads the registry first, to keep what its versions hold: nothing was removed. "
        "Start the server or fix tracking.uri / MLFLOW_TRACKING_URI, then run it again"
    )
    assert _files(root) == before


def test_the_config_file_given_is_never_removed(project, capsys):
    """A tune's best config used as the command's config (`-c reports/tune-t0-best.yaml`)."""
    root, _, _ = project
    best = root / "reports" / "tune-t0-best.yaml"
    best.write_text(
        f"paths: {{root: {json.dumps(str(root))}}}\nretention: {{job_reports: {{keep_last: 1}}}}\n"
    )
    _age(best, 50)
    assert main(["-c", str(best), "prune"]) == 0
    assert best.is_file() and (root / "reports" / "tune-t0.json").is_file()
    assert not (root / "reports" / "evaluation-e0.json").exists()
    assert "1 it holds the config file of this command" in capsys.readouterr().out


def test_one_prune_at_a_time(project, tmp_path, capsys):
    """A second prune while one runs is refused naming it (two raced to remove the same
    items); a dry run takes no lock."""
    root, _, _ = project
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(
        f"paths: {{root: {json.dumps(str(root))}}}\nretention: {{scoring_reports: {{keep_last: 1}}}}\n"
    )
    _write(root / ".fraud-app-prune.lock", json.dumps({**owner_info(), "command": "prune"}))
    before = _files(root)
    assert main(["-c", str(cfg), "prune"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: another fraud-app run is writing to {root}: prune (pid {os.getpid()}"
    )
    assert _files(root) == before
    assert main(["-c", str(cfg), "prune", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(
        "prune: would remove 0 training runs, 4 scoring reports"
    )
