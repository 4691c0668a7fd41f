"""`fraud-app tune` stopped mid-way or with a failing trial keeps its finished trials:
each is written to `reports/tune-<run>.trials.jsonl` as it ends, a re-run of the same
--run reuses them, and a failing trial is recorded with its error (the others go on)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from fraud_app import interrupts
from fraud_app.evaluation.config import TuneSection, TuneSpace
from pipelines.tune.journal import TrialJournal
from pipelines.tune.pipeline import run_tune
from tests.pipelines.tune_data import small_config


@pytest.fixture(scope="module")
def config(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-journal")
    return small_config(spark, root, **{"training.distributed.epochs": 2,
                                        "tracking.enabled": False})  # fmt: skip


def _cfg(rates, tmp_path):
    space = TuneSpace(hidden=[(8,)], dropout=[0.0], learning_rate=rates, pos_weight=[1.0],
                      loss=["bce"], n_subsets=[1], normal_ratio=[None])  # fmt: skip
    return TuneSection(method="grid", space=space, output=str(tmp_path / "best.yaml"))


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.spark
@pytest.mark.slow  # trains small ensembles
def test_a_failing_trial_is_recorded_with_its_error_and_the_others_are_kept(
    spark, config, tmp_path
):
    # a learning rate of 1e30 diverges at its first step: a real failure of that trial
    report = run_tune(spark, config, _cfg([1e30, 1e-3], tmp_path), run="fail1")
    failed, ok = report["trials"]
    assert failed["error"].startswith("TrainingDivergedError: ") and "validation" not in failed
    assert ok["validation"]["average_precision"] > 0
    assert report["best"]["trial"] == 1 and report["failed"] == 1
    journal = config.paths.local("reports") / "tune-fail1.trials.jsonl"
    assert [r["trial"] for r in _lines(journal)] == [0, 1]
    assert "error" in _lines(journal)[0]


@pytest.mark.spark
@pytest.mark.slow  # trains small ensembles
def test_every_trial_failing_is_one_error_naming_the_journal(spark, config, tmp_path):
    from fraud_app.errors import TrainingError

    with pytest.raises(TrainingError, match=r"every trial failed \(1 trial\(s\); trial 0: "
                       r"TrainingDivergedError: .*tune-fail2.trials.jsonl"):  # fmt: skip
        run_tune(spark, config, _cfg([1e30], tmp_path), run="fail2")
    assert not (tmp_path / "best.yaml").exists()


@pytest.mark.spark
@pytest.mark.slow  # trains small ensembles
def test_a_tune_stopped_mid_way_keeps_its_finished_trials_and_a_rerun_reuses_them(
    spark, config, tmp_path, caplog
):
    journal = config.paths.local("reports") / "tune-stop1.trials.jsonl"
    cfg = _cfg([1e-3, 3e-3, 1e-2], tmp_path)

    def interrupt_after_first_trial():  # a real SIGINT, as Ctrl-C sends it
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count("\n") >= 1:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_after_first_trial, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        run_tune(spark, config, cfg, run="stop1")
    watcher.join()
    kept = _lines(journal)
    assert [r["trial"] for r in kept] == [0] and kept[0]["validation"]["average_precision"] > 0
    assert (
        "tune run stop1 stopped with 1 of 3 trial(s) recorded (1 finished, 0 failed)" in caplog.text
    )
    assert not (tmp_path / "best.yaml").exists()
    # the CLI's stop line names them (it said "nothing is left half-written")
    assert interrupts.progress()[0][-1].startswith(
        f"1 finished and 0 failed of 3 tune trial(s) in {journal} (`fraud-app tune --run stop1`"
    )

    caplog.clear()
    report = run_tune(spark, config, cfg, run="stop1")
    assert "holds 1 finished trial(s); 1 of them match(es) this search and is reused, " \
        "2 trial(s) left to train" in caplog.text  # fmt: skip
    first = report["trials"][0]
    assert first["reused_from"] == str(journal) and first["validation"] == kept[0]["validation"]
    assert report["reused"] == 1 and len(report["trials"]) == 3
    assert [r["trial"] for r in _lines(journal)] == [0, 1, 2]  # trial 0 not trained again
    assert (tmp_path / "best.yaml").exists()


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_its_own_line(tmp_path):
    journal = TrialJournal(tmp_path / "t.jsonl")
    journal.append({"trial": 0, "config_sha256": "a", "validation": {}})
    with open(journal.path, "a") as f:
        f.write('{"trial": 1, "config_sha')  # a kill while the line was written
    journal.append({"trial": 2, "config_sha256": "c", "validation": {}})
    assert [r["trial"] for r in journal.records()] == [0, 2]
    assert set(journal.finished()) == {"a", "c"}


def test_a_line_changed_after_it_was_written_is_trained_again_not_reused(tmp_path, caplog):
    """A flipped digit in a finished trial's metric (0.71 -> 0.91) was reused as that trial's
    result: the tune ranked it on a number no trial gave and could call its config best."""
    journal = TrialJournal(tmp_path / "t.jsonl")
    for trial, ap in ((0, 0.71), (1, 0.65)):
        journal.append({"trial": trial, "config_sha256": f"c{trial}",
                        "validation": {"average_precision": ap, "note": "naïve"}})  # fmt: skip
    text = journal.path.read_text(encoding="utf-8")
    journal.path.write_text(text.replace("0.71", "0.91", 1), encoding="utf-8")
    assert [r["trial"] for r in journal.records()] == [1]
    assert "t.jsonl line 1 does not match its record_sha256" in caplog.text
    assert journal.finished()["c1"]["validation"] == {"average_precision": 0.65, "note": "naïve"}
    # a line that is JSON but not a trial record: skipped, named
    with open(journal.path, "a", encoding="utf-8") as f:
        f.write('{"trial": 2, "config_sha256": 7}\n[]\n')
    assert [r["trial"] for r in journal.records()] == [1]
    assert "t.jsonl line 3 is not a trial record" in caplog.text
    # a line of a release before the seal: read as before
    with open(journal.path, "a", encoding="utf-8") as f:
        f.write('{"trial": 3, "config_sha256": "c3", "validation": {}}\n')
    assert [r["trial"] for r in journal.records()] == [1, 3]


def _summary(validation_frauds):
    window = {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-31T00:00:00+00:00",
              "rows": 1500, "frauds": 180, "first": "x", "last": "y"}  # fmt: skip
    return {"windows": {"train": window, "test": {**window, "rows": 3},
                        "validation": {**window, "rows": 250, "frauds": validation_frauds}}}  # fmt: skip


def test_trials_of_a_stopped_tune_on_other_data_are_trained_again(tmp_path, caplog):
    """A tune stopped, then resumed after the feature table changed (a daily `features` run
    moved the windows, labels were confirmed since): its finished trials were reused, their
    APs of the old validation window ranked beside APs of the new one."""
    from fraud_app.config import load_config
    from pipelines.tune.journal import JournaledTrials, data_fingerprint, fingerprint
    from pipelines.tune.space import check_plan

    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    points = [{"dropout": 0.0}, {"dropout": 0.1}]
    configs = check_plan(config, points)
    names = ["f0", "f1"]
    before = data_fingerprint(_summary(31), names, "features")
    assert data_fingerprint(_summary(31), names, "features") == before
    stopped = JournaledTrials.open(config, "r", points, configs, replace=False, data=before)
    stopped.journal.append({"trial": 0, "params": points[0], "validation": {"average_precision": 0.7},
                            "config_sha256": fingerprint(configs[0]), "data_sha256": before})  # fmt: skip
    # the same data: reused
    assert (
        JournaledTrials.open(config, "r", points, configs, replace=False, data=before).reused == 1
    )
    # a confirmed fraud more in validation, a feature more: trained again, with a WARNING
    for after in (data_fingerprint(_summary(32), names, "features"),
                  data_fingerprint(_summary(31), [*names, "f2"], "features")):  # fmt: skip
        caplog.clear()
        trials = JournaledTrials.open(config, "r", points, configs, replace=False, data=after)
        assert trials.reused == 0 and trials.reused_record(0) is None
        assert "1 finished trial(s) of this search in" in caplog.text
        assert "were trained on other data" in caplog.text
    # a record of a release before the data's fingerprint: read as before
    legacy = JournaledTrials.open(config, "old", points, configs, replace=False, data=before)
    legacy.journal.append({"trial": 1, "params": points[1], "validation": {"average_precision": 0.6},
                           "config_sha256": fingerprint(configs[1])})  # fmt: skip
    assert (
        JournaledTrials.open(config, "old", points, configs, replace=False, data=before).reused == 1
    )


@pytest.mark.spark
def test_a_feature_recomputed_under_its_own_name_is_other_data(spark, tmp_path):
    """The data's fingerprint held the windows' bounds, rows, frauds, times and the feature
    names: a feature table rebuilt after a spec was edited (every value of a feature
    changed, its name, the rows, labels and times as before) passed as the same data, and
    a resumed tune reused APs of the old values. The same rows rewritten in other files
    keep the fingerprint (no retraining after a rebuild that changed nothing)."""
    import shutil

    from pyspark.sql import functions as F

    from pipelines.tune.pipeline import tune_data

    config = small_config(spark, tmp_path, **{"tracking.enabled": False})
    table = tmp_path / "features"
    rows = spark.read.parquet(str(table))

    def fingerprint_of(df):
        other = tmp_path / f"other-{len(list(tmp_path.glob('other-*')))}"
        df.write.parquet(str(other))
        shutil.copy(table / "_features.json", other / "_features.json")
        return tune_data(spark, config.model_copy(update={"features": config.features.model_copy(
            update={"output": str(other)})}))[1]  # fmt: skip

    before = tune_data(spark, config)[1]
    assert fingerprint_of(rows.repartition(3).orderBy(F.rand(1))) == before
    doubled = rows.withColumn("features", F.transform("features", lambda x: x * 2))
    assert fingerprint_of(doubled) != before
    # a map column (which Spark cannot hash: AnalysisException HASH_MAP_TYPE) is left out
    assert fingerprint_of(rows.withColumn("extra", F.create_map(F.lit("k"), F.lit(1)))) == before
