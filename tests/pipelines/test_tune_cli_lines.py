"""What `fraud-app tune` prints: the progress line of a resumed tune (a WARNING on stderr) (how many
finished trials of a stopped tune are reused) and its closing lines on stdout (each trial,
the best one, where the best config, report and journal are). Cheap: the CLI runs in this
process on the small feature table, and both trials are finished records in the journal of
a stopped tune, so nothing trains; the other line forms (FAILED, an undefined AP) are
checked on a report."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.commands.tune import summary_lines
from pipelines.tune.journal import TrialJournal, fingerprint, journal_path
from pipelines.tune.space import check_plan, plan
from tests.pipelines.tune_data import small_config

SPACE = {"hidden": [[8]], "dropout": [0.0], "learning_rate": [0.001, 0.01],
         "pos_weight": [1.0], "loss": ["bce"], "n_subsets": [1], "normal_ratio": [None]}  # fmt: skip
PARAMS = '"pos_weight": 1.0, "loss": "bce", "n_subsets": 1, "normal_ratio": null}'


@pytest.fixture(scope="module")
def config(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-cli")
    return small_config(spark, root, **{
        "tracking.enabled": False,
        "tune.method": "grid",
        "tune.space": SPACE,
    })  # fmt: skip


@pytest.mark.spark
def test_the_lines_of_a_resumed_tune(config, capsys, caplog):
    _, points = plan(config, config.tune)
    assert [p["learning_rate"] for p in points] == [0.001, 0.01]
    stopped = TrialJournal(journal_path(config, "r1"))  # what a stopped tune left
    for i, (point, trial_config) in enumerate(zip(points, check_plan(config, points), strict=True)):
        stopped.append({"trial": i, "params": point, "config_sha256": fingerprint(trial_config),
                        "validation": {"average_precision": [0.4321, 0.5][i], "rows": 50}})  # fmt: skip
    cfg_file = Path(config.paths.root) / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    assert main(["-c", str(cfg_file), "tune", "--run", "r1"]) == 0
    out = capsys.readouterr().out
    reports = config.paths.local("reports")
    journal = reports / "tune-r1.trials.jsonl"
    reused = "  (reused: finished by an earlier, stopped tune)"
    assert out.splitlines() == [
        'trial   0  validation AP 0.4321  {"hidden": [8], "dropout": 0.0, "learning_rate": 0.001, '
        + PARAMS + reused,
        'trial   1  validation AP 0.5000  {"hidden": [8], "dropout": 0.0, "learning_rate": 0.01, '
        + PARAMS + reused,
        "best: trial 1 (validation AP 0.5000)",
        f"best config: {reports / 'tune-r1-best.yaml'}",
        f"report: {reports / 'tune-r1.json'}",
        f"trials: {journal} (2 reused, 0 failed)",
    ]  # fmt: skip
    assert (
        f"tune run r1: {journal} (an earlier tune of this run stopped before it finished) "
        "holds 2 finished trial(s); 2 of them match(es) this search and is reused, 0 trial(s) "
        "left to train" in caplog.text  # the CLI's WARNING line on stderr
    )
    assert yaml.safe_load((reports / "tune-r1-best.yaml").read_text())["training"]["optimizer"][
        "learning_rate"
    ] == 0.01  # fmt: skip


def test_failed_and_undefined_trials_are_named_and_counts_are_of_the_report():
    failed = {"trial": 1, "params": {"dropout": 0.3}, "error": "TrainingDivergedError: nan"}
    trial = {"trial": 2, "params": {"dropout": 0.1}, "validation": {"average_precision": None}}
    best = {"trial": 0, "params": {"dropout": 0.0}, "validation": {"average_precision": 0.5}}
    report = {"trials": [best, failed, trial], "best": best, "best_config": "b.yaml",
              "report_path": "r.json", "trials_journal": "j.jsonl", "reused": 0, "failed": 1}  # fmt: skip
    assert summary_lines(report) == [
        'trial   0  validation AP 0.5000  {"dropout": 0.0}',
        'trial   1  FAILED (TrainingDivergedError: nan)  {"dropout": 0.3}',
        'trial   2  validation AP undefined (no frauds in validation)  {"dropout": 0.1}',
        "best: trial 0 (validation AP 0.5000)",
        "best config: b.yaml",
        "report: r.json",
        "trials: j.jsonl (0 reused, 1 failed)",
    ]
