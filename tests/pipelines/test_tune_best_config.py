"""tune's best-config file (reports/tune-<run>-best.yaml): it reads back as its trial's
config, keeps the config's defaults defaults, leaves out keys its point makes inert, and
is private when it holds credentials. Split out of test_backtest_tune_inputs.py."""

from __future__ import annotations

from fraud_app.config import load_config


def test_the_best_config_reads_back_as_its_trial_and_keeps_defaults_defaults(tmp_path, caplog):
    """The best config held every key, defaults included: read back, `tune` with it refused
    the default tune.space.n_subsets under class_weights (`lists 2 values`), and etl read
    `.tsv` files with the written csv_delimiter ','. Now: the settings the config set and
    the best trial's values; it reads back as that trial's config."""
    import yaml

    from pipelines.tune.journal import JournaledTrials
    from pipelines.tune.pipeline import _write_best
    from pipelines.tune.space import apply_point, plan

    config = load_config(None, {
        "paths.root": str(tmp_path), "balancing.strategy": "class_weights",
        "tracking": {"enabled": False, "uri": f"sqlite:///{tmp_path}/m.db"},
        "training.model.dropout": 0.2, "splits.test_days": 5,
    })  # fmt: skip
    cfg, points = plan(config, config.tune)
    best = points[3]
    trials = JournaledTrials.open(config, "b1", points, [], replace=False)
    records = [{"trial": 3, "params": best, "validation": {"average_precision": 0.5}}]
    report = _write_best(config, cfg, trials, records, replace=False)
    written = tmp_path / "reports" / "tune-b1-best.yaml"
    assert report["best_config"] == str(written)
    caplog.clear()
    read = load_config(written)
    assert read == apply_point(config, best)  # every searched and unsearched setting
    data = yaml.safe_load(written.read_text())
    # the unionpay axes change nothing under class_weights: not written (they were
    # n_subsets 3 / normal_ratio 10, keys class_weights ignores, and reading the file back
    # warned about them, probe55g)
    assert "unionpay_subsets" not in data["balancing"]
    assert "has no effect" not in caplog.text
    assert data["splits"] == {"test_days": 5} and "etl" not in data
    assert data["training"]["model"] == {"dropout": best["dropout"], "hidden": list(best["hidden"])}
    assert type(data["training"]["optimizer"]["learning_rate"]) is float
    # tune with the best config plans as tune with the config did
    assert plan(read, read.tune)[1] == points
    assert "csv_delimiter" not in read.etl.model_fields_set


def test_a_best_config_leaves_out_a_key_its_point_makes_inert(tmp_path, caplog):
    """review55g: a bce config's training.loss.pos_weight 3 was written into the best config
    of a focal point, and reading the file tune wrote back warned that it had no effect.
    Now it is left out (an INFO line says so): the file trains as the trial did, and tune
    with it plans the same trials (the bce ones take pos_weight from tune.space)."""
    import logging

    import yaml

    from pipelines.tune.space import apply_point, best_config, plan

    config = load_config(None, {"training.loss.pos_weight": 3.0}, check_root=False)
    _, points = plan(config, config.tune)
    focal = next(p for p in points if p["loss"] == "focal")
    caplog.set_level(logging.INFO)
    data = best_config(config, focal)
    assert "tune: training.loss.pos_weight left out of the best config" in caplog.text
    written = tmp_path / "best.yaml"
    written.write_text(yaml.safe_dump(data))
    caplog.clear()
    read = load_config(written, check_root=False)
    assert "has no effect" not in caplog.text
    trial = apply_point(config, focal)
    assert read.training.loss.pos_weight == 1.0 and trial.training.loss.pos_weight == 3.0
    assert read.training.loss.model_copy(update={"pos_weight": 3.0}) == trial.training.loss
    assert plan(read, read.tune)[1] == points
    # a key a trial uses stays (focal_gamma acts in tune's focal trials of a bce best config)
    config = load_config(None, {"training.loss.type": "focal", "training.loss.focal_gamma": 3.0},
                         check_root=False)  # fmt: skip
    bce = next(p for p in plan(config, config.tune)[1] if p["loss"] == "bce")
    assert best_config(config, bce)["training"]["loss"]["focal_gamma"] == 3.0


def test_a_best_config_holding_credentials_is_readable_by_its_owner_only(tmp_path, caplog):
    """The best config keeps the config's credentials (a config to run again: a tracking
    URI's password, a spark.conf storage key) and was written into <paths.reports> with the
    umask's mode (0644: every local user could read the password). Now 0600 from its first
    byte when it holds one (a killed writer's 0644 temporary file is replaced, not reused),
    named in an INFO line by its keys, never its values; a config without one keeps the
    umask's mode."""
    import logging
    import os
    import stat

    from pipelines.tune.journal import JournaledTrials
    from pipelines.tune.pipeline import _write_best
    from pipelines.tune.space import plan

    def written(run, settings):
        config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False,
                                    **settings})  # fmt: skip
        cfg, points = plan(config, config.tune)
        trials = JournaledTrials.open(config, run, points, [], replace=False)
        records = [{"trial": 0, "params": points[0], "validation": {"average_precision": 0.5}}]
        path = tmp_path / "reports" / f"tune-{run}-best.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        leftover = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a killed writer's
        leftover.write_text("")
        leftover.chmod(0o644)
        _write_best(config, cfg, trials, records, replace=False)
        return path, config

    umask = os.umask(0o022)
    try:
        with caplog.at_level(logging.DEBUG):
            path, config = written("s1", {
                "tracking.uri": "http://alice:s3cr3t-pw@mlflow.example:5000",
                "spark.conf": {"spark.hadoop.fs.s3a.secret.key": "AKIAsecretvalue"},
            })  # fmt: skip
        plain, _ = written("p1", {})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).tracking.uri == config.tracking.uri  # still a config to run
    assert "s3cr3t-pw" not in caplog.text and "AKIAsecretvalue" not in caplog.text
    assert "holds credentials (spark.conf.spark.hadoop.fs.s3a.secret.key, tracking.uri)" in (
        caplog.text
    )
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644
    assert not list((tmp_path / "reports").glob(".*.tmp"))
    # --replace (an atomic rename over a 0644 file): the new file is 0600 too
    from fraud_app import jsonout

    jsonout.write_atomic(plain, path.read_text(), private=True)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
