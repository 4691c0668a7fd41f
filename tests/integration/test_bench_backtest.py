"""bench/backtest.py's mode selection (`--modes`) and the figures of its JSON line for the modes
run (issue 10, run 14: one configuration's two modes in two processes). No Spark."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_backtest", REPO / "bench" / "backtest.py")
backtest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backtest)


def _mode(ensemble_ap: float, gbt_ap: float, cp100: float) -> dict:
    return {
        "ensemble_ap": {"mean": ensemble_ap},
        "gbt_ap": {"mean": gbt_ap},
        "ensemble_cp100": {"mean": cp100},
    }


def test_parse_modes_keeps_the_order_given_each_mode_once():
    assert backtest.parse_modes("label_time,delay_only") == ["label_time", "delay_only"]
    assert backtest.parse_modes("delay_only") == ["delay_only"]
    assert backtest.parse_modes(" delay_only, label_time,delay_only,") == [
        "delay_only",
        "label_time",
    ]


@pytest.mark.parametrize("text", ["", ",", "delay-only", "label_time,both"])
def test_parse_modes_refuses_what_is_not_a_mode(text):
    with pytest.raises(ValueError, match=r"--modes: expected label_time and/or delay_only, got "):
        backtest.parse_modes(text)


def test_headline_has_the_figures_of_the_modes_run_and_the_ratio_only_with_both():
    figures = {
        "label_time": _mode(0.6889, 0.6073, 0.0261),
        "delay_only": _mode(0.7006, 0.6740, 0.0257),
    }
    assert backtest.headline(figures, ["label_time", "delay_only"]) == {
        "backtest_ap_ensemble_minus_gbt_label_time": 0.0816,
        "backtest_cp100_ensemble_label_time": 0.0261,
        "backtest_ap_ensemble_minus_gbt_delay_only": 0.0266,
        "backtest_cp100_ensemble_delay_only": 0.0257,
        "backtest_ap_delay_only_vs_label_time": 1.017,
    }
    only = {"delay_only": figures["delay_only"]}
    assert backtest.headline(only, ["delay_only"]) == {
        "backtest_ap_ensemble_minus_gbt_delay_only": 0.0266,
        "backtest_cp100_ensemble_delay_only": 0.0257,
    }


def test_the_command_line_names_a_bad_mode_before_starting_spark():
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "backtest.py"), "--modes", "delay-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--modes: expected label_time and/or delay_only, got 'delay-only'" in done.stderr


def test_several_configurations_give_the_first_and_their_mean_never_the_best():
    tried = [
        {"configuration": "a", "label_time": _mode(0.70, 0.69, 0.03)},
        {"configuration": "b", "label_time": _mode(0.74, 0.69, 0.05)},
    ]
    mean = backtest.mean_figures(tried, ["label_time"])
    assert backtest.headline(mean, ["label_time"]) == {
        "backtest_ap_ensemble_minus_gbt_label_time": 0.03,
        "backtest_cp100_ensemble_label_time": 0.04,
    }


def test_seeded_configurations_differ_only_by_the_seeds_of_shipped_seed1_and_seed2():
    made = backtest._seeded("x", {"training.model.dropout": 0.0})
    assert made == {
        "x": {"training.model.dropout": 0.0},
        "x_seed1": {"training.model.dropout": 0.0, "training.seed": 1, "balancing.seed": 1},
        "x_seed2": {"training.model.dropout": 0.0, "training.seed": 2, "balancing.seed": 2},
    }
    for seed in (1, 2):
        extra = {"training.seed": seed, "balancing.seed": seed}
        assert backtest.CONFIGS[f"shipped_seed{seed}"] == extra


def test_every_configuration_is_a_valid_config_of_the_bench(tmp_path):
    from types import SimpleNamespace

    args = SimpleNamespace(transactions=60_000, days=63, fraud_rate=0.01, train_days=21,
                           spec_dir=None, baseline="xgboost")  # fmt: skip
    for name, overrides in backtest.CONFIGS.items():
        config = backtest._config(tmp_path, "label_time", args, overrides)
        assert config.generate.n_transactions == 60_000, name
    k1 = backtest._config(tmp_path, "delay_only", args, backtest.CONFIGS["q21_k1pw5_seed2"])
    assert k1.balancing.unionpay_subsets.n_subsets == 1
    assert k1.balancing.unionpay_subsets.normal_ratio is None
    assert (k1.training.loss.pos_weight, k1.training.seed, k1.balancing.seed) == (5.0, 2, 2)
    assert k1.generate.label_times is False
