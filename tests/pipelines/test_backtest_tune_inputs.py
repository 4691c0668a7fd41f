"""`backtest` / `tune` settings that cannot work are named before anything trains."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, EnvironmentSetupError
from fraud_app.evaluation.config import BacktestSection, TuneSection, TuneSpace
from pipelines.backtest.pipeline import run_backtest
from pipelines.tune.pipeline import run_tune
from tests.pipelines.before_spark import one_error_before_spark
from tests.pipelines.tune_data import DEMO, feature_table


@pytest.mark.parametrize(
    "space, message",
    [
        ({"dropout": [0.1, 1.5]}, r"tune\.space\.dropout: \[1\] = 1\.5 is not a valid "
                                  r"training\.model\.dropout: Input should be less than 1 "
                                  r"\(received \[0\.1, 1\.5\]\)$"),  # not the whole space
        ({"n_subsets": [0, 3]}, r"n_subsets: \[0\] = 0 is not a valid balancing\.unionpay_subsets"),
        ({"learning_rate": [0.0]}, r"learning_rate: \[0\] = 0\.0 is not a valid training\.optimizer"),
        ({"hidden": [[64], [64, 0]]}, r"hidden: \[1\] = \[64, 0\] is not a valid training\.model"),
        # session 49: `Input should be a valid tuple (received 8)` / `... valid list` /
        # `[0] = 1.0 is not a valid training.model.dropout` for a true read as 1.0
        ({"hidden": [8, 16]}, r"tune\.space\.hidden: \[0\] = 8 is not a network's layer widths: "
                              r"each value is a list, e\.g\. \[\[8\], \[16\]\] searches one layer"),
        ({"dropout": 0.1}, r"tune\.space\.dropout: give a list of values to search, e\.g\. \[0\.1\]"),
        ({"dropout": [True]}, r"tune\.space\.dropout: \[0\] is the boolean true, not a value to"),
        # review49e: `dropout:` (null) said "e.g. [None] for one"; a true in a width was 1
        ({"dropout": None}, r"tune\.space\.dropout: has no value \(a key with nothing after it\); "
                            r"give a list of values to search, e\.g\. \[0\.0, 0\.1, 0\.3\]"),
        ({"hidden": [[8, True]]}, r"tune\.space\.hidden: \[0\] = \[8, True\] holds a boolean"),
    ],
)  # fmt: skip
def test_a_search_value_its_setting_refuses_is_an_error_when_the_config_is_read(space, message):
    # before: accepted here; the trial with that value failed with a pydantic traceback
    # after the trials before it had trained
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"tune": {"space": space}})


def test_hidden_units_must_be_positive():
    # before: accepted; training stopped with dlcore's "Linear: units must be a positive
    # integer. Received: 0", naming no setting
    with pytest.raises(ConfigError, match=r"training\.model\.hidden\.1: Input should be greater"):
        load_config(None, {"training": {"model": {"hidden": [64, 0]}}})


@pytest.mark.spark
def test_tune_refuses_axes_that_the_balancing_strategy_ignores(spark, tmp_path):
    config = load_config(
        None,
        {"paths.root": str(tmp_path), "balancing": {"strategy": "class_weights"},
         "tracking": {"enabled": False}},
    )  # fmt: skip
    space = TuneSpace(hidden=[(8,)], n_subsets=[3, 5], normal_ratio=[None])
    # before: read the feature table (here: none) and trained duplicate trials
    with pytest.raises(ConfigError, match=r"tune\.space\.n_subsets lists 2 values, but "
                       r"balancing\.strategy is 'class_weights'"):  # fmt: skip
        run_tune(spark, config, TuneSection(method="grid", space=space), run="t")


@pytest.mark.spark
def test_every_fold_is_checked_against_the_data_before_any_fold_trains(spark, tmp_path):
    """--end past the data: the newest fold's test window starts after the last row. It
    was checked only when its turn came, after the older folds had trained (here fold 0
    fails first, on a train window without known frauds)."""
    feature_table(spark, tmp_path / "features", days=6, per_day=10)
    clean = spark.read.parquet(str(tmp_path / "features")).withColumn("label", F.lit(0))
    clean.write.parquet(str(tmp_path / "clean"))
    (tmp_path / "clean" / "_features.json").write_bytes(
        (tmp_path / "features" / "_features.json").read_bytes()
    )
    config = load_config(DEMO, {"paths.root": str(tmp_path),
                                "features.output": str(tmp_path / "clean")})  # fmt: skip
    cfg = BacktestSection(folds=2, step_days=3, train_days=2, validation_days=1, test_days=1,
                          test_gap_days=0, end=dt.date(2024, 1, 9), baseline="none")  # fmt: skip
    with pytest.raises(ConfigError, match=r"^backtest fold 1: its test window starts 2024-01-08"):
        run_backtest(spark, config, cfg, run="t")


def _no_fraud_table(spark, tmp_path):
    feature_table(spark, tmp_path / "features", days=6, per_day=10)
    clean = spark.read.parquet(str(tmp_path / "features")).withColumn("label", F.lit(0))
    clean.write.parquet(str(tmp_path / "clean"))
    (tmp_path / "clean" / "_features.json").write_bytes(
        (tmp_path / "features" / "_features.json").read_bytes()
    )
    return load_config(DEMO, {"paths.root": str(tmp_path),
                              "features.output": str(tmp_path / "clean")})  # fmt: skip


@pytest.mark.spark
def test_a_missing_xgboost_is_named_before_any_fold_trains(spark, tmp_path, monkeypatch):
    """baseline xgboost without the package: found at fold 0's baseline, after its ensemble
    trained (here fold 0 fails first, on a train window without known frauds)."""
    config = _no_fraud_table(spark, tmp_path)
    monkeypatch.setitem(sys.modules, "xgboost", None)  # `import xgboost` raises ImportError
    cfg = BacktestSection(folds=1, train_days=2, validation_days=1, test_days=1,
                          test_gap_days=0, baseline="xgboost")  # fmt: skip
    with pytest.raises(EnvironmentSetupError, match=r"^backtest\.baseline: xgboost needs the "
                       r"xgboost package; install the `baselines` extra"):  # fmt: skip
        run_backtest(spark, config, cfg, run="t")


def test_an_xgboost_that_fails_to_import_says_why(monkeypatch):
    """An installed xgboost whose import fails (a broken dependency, a package replaced
    under a running job) is not reported as merely missing: the cause is in the message."""
    import builtins

    from fraud_app.evaluation.baseline import check_available

    real = builtins.__import__

    def failing(name, *args, **kwargs):
        if name == "xgboost":
            raise ImportError("libxgboost.so: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(EnvironmentSetupError, match=r"Importing it failed with ImportError: "
                       r"libxgboost\.so: cannot open shared object file$"):  # fmt: skip
        check_available("xgboost")


def test_tune_trials_flag_on_a_grid_config_is_refused(tmp_path, capsys):
    from pipelines.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\ntune:\n  method: grid\n")
    # before: ran the whole grid (here 3 x 3 x 2 x 2 x 2 x 2 x 2 = 288 trainings)
    assert main(["-c", str(config), "tune", "--trials", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --trials applies to random search, but tune.method is grid (every combination "
        "of tune.space is trained); add --method random, or leave out --trials"
    )
    # the flag, not the config, chose the grid: the line names the flag
    assert main(["-c", str(config), "tune", "--method", "grid", "--seed", "4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --seed applies to random search, but --method grid (every combination "
        "of tune.space is trained); use --method random, or leave out --seed"
    )
    assert main(["-c", str(config), "tune", "--method", "random", "--trials", "0"]) == 2
    assert "tune.trials: Input should be greater than or equal to 1" in capsys.readouterr().err


def test_default_unionpay_axes_are_held_under_another_strategy(tmp_path, caplog):
    """Left at their defaults, n_subsets / normal_ratio are not searched under class_weights
    (one value each, a WARNING); written with several values they are an error (above)."""
    import logging

    from pipelines.commands._overrides import with_flags
    from pipelines.tune.space import effective_space, plan_trials

    config = load_config(None, {"balancing": {"strategy": "class_weights"},
                                "tune": {"method": "grid", "space": {"hidden": [[8]]}}})  # fmt: skip
    cfg = with_flags(config.tune, "tune", seed=3)  # a flag keeps the defaults defaults
    with caplog.at_level(logging.WARNING, logger="pipelines.tune.pipeline"):
        held = effective_space(config, cfg)
    assert (held.space.n_subsets, held.space.normal_ratio) == ([3], [10.0])
    assert len(plan_trials(held)) == len(plan_trials(cfg)) // 4
    assert "tune.space.n_subsets (default [3, 5]) is not searched" in caplog.text


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_tune_output_is_checked_before_any_trial(tmp_path, where):
    # it failed writing the best config after every trial had trained; no session is
    # needed to refuse it
    (tmp_path / "a-file").write_text("x")
    output = tmp_path if where == "directory" else tmp_path / "a-file" / "best.yaml"
    config = load_config(None, {"paths.root": str(tmp_path / "work")})
    cfg = config.tune.model_copy(update={"output": str(output)})
    match = "is a directory; give the YAML file" if where == "directory" else "cannot create"
    with pytest.raises(ConfigError, match=rf"^tune\.output .*{match}"):
        run_tune(None, config, cfg)


@pytest.mark.parametrize(
    "command, section, message",
    [
        ("tune", {"space": {"dropout": [0.1, 0.1]}}, "tune.space.dropout lists 0.1 more than once"),
        ("tune", {"space": {"hidden": [[8], [8]]}}, "tune.space.hidden lists [8] more than once"),
        ("tune", {"space": {"dropout": []}}, "tune.space.dropout is empty"),
        ("tune", {}, "features does not exist; run `fraud-app features` first"),
        ("backtest", {}, "features does not exist; run `fraud-app features` first"),
        ("backtest", {"baseline": "xgboost"}, "backtest.baseline: xgboost needs the xgboost"),
    ],
)  # fmt: skip
def test_what_needs_no_data_is_one_line_before_spark_starts(tmp_path, command, section, message):
    """A duplicate value trained the same trials twice; an empty axis, a balancing
    mismatch, a missing feature table or a missing xgboost were found only after the JVM
    had started (a minute on a loaded host; xgboost after the table was read too)."""
    import json

    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"root": str(tmp_path)}, command: section}))
    # xgboost made unimportable, installed or not
    one_error_before_spark(config, command, message, prelude="sys.modules['xgboost'] = None; ")


def test_the_backtest_table_says_undef_for_a_metric_a_fold_cannot_define():
    # a test window without fraud: AUC and AP NaN printed `nan`; a None (a report read back,
    # or a metric left out) stopped the command with a TypeError after every fold trained
    from fraud_app.evaluation.ranking import mean_std
    from pipelines.backtest.report import METRICS, format_table

    good = {"roc_auc": 0.9, "average_precision": 0.5, "recall_at_budget": 0.4,
            "card_precision_at_k": 0.03}  # fmt: skip
    none = dict(good, roc_auc=float("nan"), average_precision=None)
    folds = [{"fold": 0, "models": {"ensemble": good}}, {"fold": 1, "models": {"ensemble": none}}]
    summary = {"ensemble": {m: mean_std([f["models"]["ensemble"][m] for f in folds])
                            for m in METRICS}, "leakage_checks_ok": True}  # fmt: skip
    table = format_table({"folds": folds, "summary": summary})
    assert "nan" not in table.lower().replace("undef", "")
    lines = table.splitlines()
    assert lines[3].split()[:4] == ["1", "ensemble", "undef", "undef"]
    assert "0.9000+-0.0000" in lines[5]  # the mean leaves the undefined fold out
    assert lines[-1].startswith("undef: undefined, the test window holds no fraud")


@pytest.mark.parametrize("output", ["hdfs://nn:8020/tune/best.yaml", "s3a://b/best.yaml"])
def test_a_remote_tune_output_is_refused_when_the_config_is_read(tmp_path, monkeypatch, output):
    # review44a: Python writes the best config; before, `hdfs://nn:8020/tune/best.yaml`
    # became a local folder `hdfs:/nn:8020/tune` in the working directory, after every trial
    from pipelines.commands._overrides import with_flags
    from pipelines.tune.pipeline import check_output

    monkeypatch.chdir(tmp_path)
    message = rf"tune\.output: .*'{output}' is not on this machine, but fraud-app writes"
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"tune": {"output": output}})
    config = load_config(None, {"paths.root": str(tmp_path / "work")})
    with pytest.raises(ConfigError, match=r"flag\(s\) invalid:\n  " + message):
        check_output(with_flags(config.tune, "tune", output=output))  # `tune --output URI`
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_uri_tune_output_is_its_local_path(tmp_path, monkeypatch):
    # review44a: `file:///x/best.yaml` was written to a folder `file:` in the working directory
    from fraud_app.errors import ReportExistsError
    from pipelines.tune.pipeline import check_output, check_run, outputs

    monkeypatch.chdir(tmp_path)
    best = tmp_path / "out" / "best.yaml"
    config = load_config(None, {"paths.root": str(tmp_path / "work"),
                                "tune.output": f"file://{best}"})  # fmt: skip
    check_output(config.tune)
    assert outputs(config, config.tune, "r1")[1] == best and (tmp_path / "out").is_dir()
    best.write_text("x")
    with pytest.raises(ReportExistsError, match="already exists"):
        check_run(config, config.tune, "r1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_backtest_summary_says_how_many_folds_each_mean_is_over():
    # a mean over 1 of 3 folds (the others' test windows without fraud) read as the mean of
    # all 3 with a std of 0.0: `AP 0.5000+-0.0000`, the report's summary without a count
    from fraud_app.evaluation.ranking import mean_std
    from pipelines.backtest.report import METRICS, format_table

    good = {"roc_auc": 0.9, "average_precision": 0.5, "recall_at_budget": 0.4,
            "card_precision_at_k": 0.03}  # fmt: skip
    none = dict(good, roc_auc=float("nan"), average_precision=None)
    folds = [{"fold": i, "models": {"ensemble": good if i == 0 else none}} for i in range(3)]
    summary = {"ensemble": {m: mean_std([f["models"]["ensemble"][m] for f in folds])
                            for m in METRICS}, "leakage_checks_ok": True}  # fmt: skip
    assert summary["ensemble"]["average_precision"] == {"mean": 0.5, "std": 0.0, "folds": 1}
    assert summary["ensemble"]["recall_at_budget"]["folds"] == 3
    assert mean_std([None, float("nan")])["folds"] == 0
    table = format_table({"folds": folds, "summary": summary})
    assert table.splitlines()[-1].endswith(
        "the means leave such folds out (ensemble ROC AUC: 1 of 3 folds, ensemble AP: 1 of 3 folds)"
    )


def test_focal_trials_are_not_repeated_for_each_pos_weight(caplog):
    """focal ignores pos_weight (fraud_app.models.builders): `loss: [bce, focal]` x
    `pos_weight: [1, 3]` trained every focal ensemble twice, two trials of one AP (a quarter
    of the default grid: 288 trainings where 216 differ)."""
    import logging

    from pipelines.tune.space import check_plan, plan_trials

    space = TuneSpace(hidden=[(8,)], dropout=[0.0], learning_rate=[1e-3], pos_weight=[1.0, 3.0],
                      loss=["bce", "focal"], n_subsets=[1], normal_ratio=[None])  # fmt: skip
    with caplog.at_level(logging.INFO, logger="pipelines.tune.pipeline"):
        grid = plan_trials(TuneSection(method="grid", space=space))
    assert [(p["loss"], p.get("pos_weight")) for p in grid] == [
        ("bce", 1.0), ("focal", None), ("bce", 3.0)
    ]  # fmt: skip
    assert (
        "loss 'focal' ignores pos_weight" in caplog.text
        and "(3 combinations, not 4)" in caplog.text
    )
    # a focal trial keeps the config's own pos_weight (the user's setting, not a searched one)
    config = load_config(None, {"training": {"loss": {"pos_weight": 2.0}}})
    assert [c.training.loss.pos_weight for c in check_plan(config, grid)] == [1.0, 2.0, 3.0]
    # random search draws distinct ensembles; more trials than there are: each once
    drawn = plan_trials(TuneSection(method="random", trials=4, seed=1, space=space))
    assert sorted(map(str, drawn)) == sorted(map(str, grid))
    assert len(plan_trials(TuneSection(method="grid"))) == 216  # the default space, not 288


def _held(lock):
    """`lock` taken in another thread (as another process would hold it) until released."""
    import threading

    taken, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30)
    return thread, release


@pytest.mark.spark
def test_a_second_tune_of_one_run_name_is_refused_while_the_first_runs(spark, tmp_path):
    """Two tunes of one --run ran at once: one journal, the same trials trained twice, and
    the one ending second failed with 'already exists' after its last trial (with
    --replace, one removed the journal the other appended to)."""
    from fraud_app.errors import ConcurrentRunError
    from fraud_app.etl.lock import RootLock

    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    reports = tmp_path / "reports"
    thread, release = _held(RootLock(str(reports), "tune --run r1", ".tune-r1.lock"))
    try:
        for replace in (False, True):
            with pytest.raises(ConcurrentRunError, match=r"\.tune-r1\.lock \(tune --run r1 was"):
                run_tune(spark, config, config.tune, run="r1", replace=replace)
    finally:
        release.set()
        thread.join()
    assert not (reports / ".tune-r1.lock").exists()


def test_a_tune_without_run_passes_over_a_stamp_a_running_tune_holds(tmp_path, monkeypatch):
    """Two tunes started in the same second without --run took one UTC stamp (outputs
    are written at the end: neither saw the other's)."""
    from pipelines import named_reports
    from pipelines.tune.pipeline import claimed_run, run_lock

    monkeypatch.setattr(named_reports, "utc_stamp", lambda: "20240101T000000")
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    thread, release = _held(run_lock(config, "20240101T000000"))
    try:
        with claimed_run(config, config.tune, None) as name:
            assert name == "20240101T000000-2"
            assert run_lock(config, name).path.exists()
    finally:
        release.set()
        thread.join()
    assert not list((tmp_path / "reports").glob(".tune-*.lock"))


def test_the_cli_names_a_running_tune_of_its_run_before_spark_starts(tmp_path):
    """The CLI checked the name before Spark started, but not whether a tune of it ran: the
    refusal came from run_tune, after the JVM's start-up (a minute on a loaded host)."""
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\ntracking:\n  enabled: false\n")
    held = (  # another tune of r1 holds its lock (a thread here: another process alike)
        "import threading, time; from fraud_app.etl.lock import RootLock; "
        f"lock = RootLock({str(tmp_path / 'reports')!r}, 'tune --run r1', '.tune-r1.lock'); "
        "ok = threading.Event(); threading.Thread(target=lambda: (lock.__enter__(), ok.set(), "
        "time.sleep(600)), daemon=True).start(); ok.wait(); "
    )
    one_error_before_spark(config, "tune --run r1", "holds the run lock", prelude=held)
