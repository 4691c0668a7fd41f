"""A config key given that another setting makes do nothing is named in a WARNING when the
config is read (probe55g): it was accepted and ignored without a word."""

from __future__ import annotations

import logging

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.commands._overrides import with_flags

# (overrides, the inert key, the setting named as the reason)
INERT = [
    ({"etl.format": "parquet", "etl.csv_delimiter": ";"}, "etl.csv_delimiter",
     "etl.format is 'parquet'"),
    ({"etl.format": "json", "etl.csv_multiline": False}, "etl.csv_multiline",
     "etl.format is 'json'"),
    ({"etl.format": "parquet", "etl.encoding": "ISO-8859-1"}, "etl.encoding",
     "etl.format is 'parquet'"),
    ({"balancing.strategy": "class_weights", "balancing.unionpay_subsets.n_subsets": 9},
     "balancing.unionpay_subsets.n_subsets", "balancing.strategy is 'class_weights'"),
    ({"balancing.class_weights.mode": "pos_weight", "balancing.class_weights.pos_weight": 5},
     "balancing.class_weights.pos_weight", "balancing.strategy is 'unionpay_subsets'"),
    ({"balancing.strategy": "class_weights", "balancing.class_weights.pos_weight": 5},
     "balancing.class_weights.pos_weight", "mode is 'inverse_frequency'"),
    ({"balancing.undersample.normal_ratio": 3},
     "balancing.undersample.normal_ratio", "balancing.strategy is 'unionpay_subsets'"),
    ({"training.model.encoding": "none", "training.model.encoding_bins": 16},
     "training.model.encoding_bins", "training.model.encoding is 'none'"),
    ({"training.loss.focal_gamma": 3.0}, "training.loss.focal_gamma",
     "training.loss.type is 'bce'"),
    ({"training.loss.type": "focal", "training.loss.pos_weight": 5.0},
     "training.loss.pos_weight", "training.loss.type is 'focal'"),
    ({"training.optimizer.momentum": 0.5}, "training.optimizer.momentum",
     "training.optimizer.type is 'adam'"),
    ({"training.distributed.epochs": 10, "training.distributed.iterations": 100},
     "training.distributed.epochs", "training.distributed.iterations is 100"),
    ({"training.distributed.scale_lr": False, "training.distributed.warmup_iterations": 50},
     "training.distributed.warmup_iterations", "training.distributed.scale_lr is false"),
    ({"training.distributed.engine": "per_iteration", "training.distributed.stage_groups": 4},
     "training.distributed.stage_groups", "training.distributed.engine is 'per_iteration'"),
    ({"training.distributed.early_stopping.every_epochs": 2.0,
      "training.distributed.early_stopping.every_groups": 3},
     "training.distributed.early_stopping.every_epochs", "every_groups is 3"),
    ({"training.refit.enabled": False, "training.refit.passes": 5},
     "training.refit.passes", "training.refit.enabled is false"),
    ({"training.distributed.early_stopping": None, "training.refit.passes": 5},
     "training.refit.passes", "training.distributed.early_stopping is null"),
    ({"training.refit.method": "fresh", "training.refit.decay": "none"},
     "training.refit.decay", "training.refit.method is 'fresh'"),
    ({"splits.gap_days": 3, "splits.validation_gap_days": 1, "splits.test_gap_days": 7},
     "splits.gap_days", "both set"),
    ({"tune.method": "grid", "tune.trials": 20}, "tune.trials", "tune.method is 'grid'"),
    ({"backtest.baseline": "none", "backtest.gbt.max_iter": 300},
     "backtest.gbt.max_iter", "backtest.baseline is 'none'"),
    ({"backtest.folds": 1, "backtest.step_days": 14}, "backtest.step_days",
     "backtest.folds is 1"),
]  # fmt: skip


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "fraud_app.config" and r.levelno == logging.WARNING]  # fmt: skip


@pytest.mark.parametrize("overrides, key, because", INERT, ids=[k for _, k, _ in INERT])
def test_a_key_another_setting_makes_inert_is_named_once(caplog, overrides, key, because):
    # before: loaded without a word, and the run used the other setting
    caplog.set_level(logging.WARNING)
    load_config(None, dict(overrides), check_root=False)
    lines = [m for m in _warnings(caplog) if m.startswith(f"{key} is set but has no effect")]
    assert len(lines) == 1, _warnings(caplog)
    assert because in lines[0]


def test_defaults_written_out_and_settings_in_use_warn_nothing(caplog):
    # configs/demo.yaml lists every balancing strategy's section with its defaults (a menu);
    # the same keys with a value that is used: nothing to say
    caplog.set_level(logging.WARNING)
    load_config("configs/demo.yaml", check_root=False)
    load_config(None, {"balancing.class_weights.mode": "inverse_frequency",
                       "balancing.undersample.normal_ratio": 10.0,
                       "training.refit.passes": 5, "training.loss.pos_weight": 3.0,
                       "tune.method": "random", "tune.trials": 20}, check_root=False)  # fmt: skip
    assert _warnings(caplog) == []


def test_a_flag_that_makes_a_key_inert_is_warned_about(caplog):
    # `tune --method grid --trials 20`: the trials flag did nothing, without a word
    caplog.set_level(logging.WARNING)
    config = load_config(None, check_root=False)
    with_flags(config.tune, "tune", method="grid", trials=20)
    assert any(m.startswith("tune.trials is set but has no effect: tune.method is 'grid'")
               and m.endswith("(with the command's flags)") for m in _warnings(caplog))  # fmt: skip


def test_average_best_without_restore_best_is_refused_when_read():
    # before: accepted here and refused by EarlyStoppingConfig at the first member's training
    with pytest.raises(ConfigError, match=r"average_best \(3\) > 1 .* needs restore_best: true"):
        load_config(None, {"training.distributed.early_stopping.average_best": 3,
                           "training.distributed.early_stopping.restore_best": False},
                    check_root=False)  # fmt: skip


def test_a_key_tune_trials_use_says_so(caplog):
    # review55g: a bce config's focal_gamma was called without effect, but tune's focal
    # trials (default tune.space.loss [bce, focal]) train with it: false for `tune`
    caplog.set_level(logging.WARNING)
    load_config(None, {"training.loss.focal_gamma": 3.0}, check_root=False)
    load_config(None, {"training.loss.focal_gamma": 3.0, "tune.space.loss": ["bce"]},
                check_root=False)  # fmt: skip
    # pos_weight under focal: the bce trials set it from tune.space.pos_weight (no trial uses it)
    load_config(None, {"training.loss.type": "focal", "training.loss.pos_weight": 3.0},
                check_root=False)  # fmt: skip
    tuned, alone, pos_weight = _warnings(caplog)
    assert tuned.endswith("(except in tune: its trials with training.loss.type 'focal', from "
                          "tune.space.loss, use it)")  # fmt: skip
    assert "tune" not in alone.split("; ")[-1]
    assert "except in tune" not in pos_weight


# (the config's overrides, its section, the command's flags, the key those flags make act)
MADE_TO_ACT = [
    ({"tune.method": "grid", "tune.trials": 20}, "tune", {"method": "random"}, "tune.trials"),
    ({"backtest.folds": 1, "backtest.step_days": 14}, "backtest", {"folds": 3},
     "backtest.step_days"),
    ({"backtest.baseline": "none", "backtest.gbt.max_iter": 50}, "backtest",
     {"baseline": "gbt"}, "backtest.gbt.max_iter"),
    ({"etl.format": "parquet", "etl.csv_delimiter": "|"}, "etl", {"format": "csv"},
     "etl.csv_delimiter"),
]  # fmt: skip


@pytest.mark.parametrize("overrides, name, flags, key", MADE_TO_ACT,
                         ids=[k for *_, k in MADE_TO_ACT])  # fmt: skip
def test_a_flag_that_makes_a_warned_key_act_says_so(caplog, overrides, name, flags, key):
    # review55g: `backtest --folds 3` with `folds: 1, step_days: 14` used step_days, after a
    # WARNING at load that it had no effect, and nothing said otherwise
    caplog.set_level(logging.WARNING)
    config = load_config(None, dict(overrides), check_root=False)
    assert any(m.startswith(f"{key} is set but has no effect") for m in _warnings(caplog))
    with_flags(getattr(config, name), name, **flags)
    assert _warnings(caplog)[-1] == (f"{key} does act with the command's flags: the WARNING "
                                     "about it when the config was read does not apply to this "
                                     "run")  # fmt: skip
