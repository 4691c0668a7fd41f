"""A mistyped or misplaced config key names what the user probably meant."""

from __future__ import annotations

import re

import pytest

from fraud_app import yamlfile
from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.cli import main
from pipelines.commands._overrides import with_flags


@pytest.mark.parametrize(
    "override, message",
    [
        ({"trainng": {"seed": 1}}, r"trainng: unknown key \(received \{'seed': 1\}\); "
                                   r"did you mean 'training'\?"),
        ({"training": {"distributed": {"num_worker": 2}}},
         r"training\.distributed\.num_worker: unknown key \(received 2\); did you mean 'num_workers'"),
        ({"etl": {"bounds": {"max_amout": 5}}}, r"etl\.bounds\.max_amout: .*did you mean 'max_amount'"),
        ({"tune": {"space": {"dropot": [0.1]}}}, r"tune\.space\.dropot: .*did you mean 'dropout'"),
        # the right key in the wrong section
        ({"training": {"num_workers": 2}},
         r"training\.num_workers: unknown key \(received 2\); it is a key of training\.distributed"),
        # nothing close: the section's keys are listed
        ({"backtest": {"gbt": {"zzz": 1}}},
         r"backtest\.gbt\.zzz: unknown key \(received 1\); valid keys here: max_iter, max_depth, "
         r"learning_rate"),
    ],
)  # fmt: skip
def test_an_unknown_key_names_the_nearest_valid_one(override, message):
    # before: "Extra inputs are not permitted" and nothing else
    with pytest.raises(ConfigError, match=message):
        load_config(None, override)


def test_the_cli_prints_every_problem_with_its_suggestion(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(
        "training:\n  distributed:\n    num_worker: 2\nscoring:\n  alert_budgett: 0.1\n"
    )
    assert main(["-c", str(config), "models"]) == 2
    err = capsys.readouterr().err
    assert (
        "training.distributed.num_worker: unknown key (received 2); did you mean 'num_workers'?"
        in err
    )
    assert "scoring.alert_budgett: unknown key (received 0.1); did you mean 'alert_budget'?" in err


def test_a_config_given_after_the_command_is_read(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("scoring:\n  alert_budgett: 0.1\n")
    assert main(["models", "-c", str(config)]) == 2
    assert "scoring.alert_budgett: unknown key" in capsys.readouterr().err


def test_flags_keep_naming_the_section():
    config = load_config(None)
    with pytest.raises(
        ConfigError, match=r"backtest\.folds: Input should be greater than or equal to 1"
    ):
        with_flags(config.backtest, "backtest", folds=0)


@pytest.mark.parametrize(
    "override, message",
    [
        # .inf / .nan are YAML floats: an infinite epochs or timeout trained or waited
        # without end, an infinite learning rate diverged
        ({"training": {"distributed": {"epochs": float("inf")}}},
         r"training\.distributed\.epochs: Input should be a finite number \(received inf\)"),
        ({"tracking": {"connect_timeout_s": float("inf")}},
         r"tracking\.connect_timeout_s: Input should be a finite number"),
        ({"training": {"optimizer": {"learning_rate": float("inf")}}},
         r"training\.optimizer\.learning_rate: Input should be a finite number"),
        # each evaluate budget is a share in (0, 1), as scoring.alert_budget (2.0 reported
        # every row as "budget 2.0", 0 one row)
        ({"scoring": {"alert_budgets": [0.01, 2.0]}},
         r"scoring\.alert_budgets\.1: Input should be less than 1 \(received 2\.0\)"),
        ({"scoring": {"alert_budgets": [0]}},
         r"scoring\.alert_budgets\.0: Input should be greater than 0"),
        # backtest's budget too (1.0 was accepted there, refused as scoring.alert_budget)
        ({"backtest": {"alert_budget": 1.0}},
         r"backtest\.alert_budget: Input should be less than 1 \(received 1\.0\)"),
        ({"scoring": {"model": ""}}, r"scoring\.model: String should have at least 1 character"),
        # paths.raw: "" resolved to paths.root itself; an empty experiment failed in MLflow
        ({"paths": {"raw": ""}}, r"paths\.raw: String should have at least 1 character"),
        ({"tracking": {"experiment": ""}}, r"tracking\.experiment: String should have at least"),
        # a range whose bounds are swapped failed every row of the column at `validate`
        ({"validation": {"features": {"columns": {"amount_log": {"min": 5, "max": 1}}}}},
         r"validation\.features\.columns\.amount_log: min \(5\.0\) must be <= max \(1\.0\)"),
        # mappings whose keys are names, not config keys: the nearest name too
        ({"etl": {"columns": {"transacton_id": "id"}}},
         r"etl\.columns: etl\.columns keys must be canonical column names; unknown: "
         r"'transacton_id' \(did you mean 'transaction_id'\?\)\. Valid: "),
        ({"generate": {"pattern_weights": {"stolen_crd": 1.0}}},
         r"pattern_weights has unknown pattern\(s\) 'stolen_crd' \(did you mean 'stolen_card'\?\)"),
        # a misspelt check name: refused when the config is read, naming the nearest
        ({"validation": {"canonical": {"severities": {"timestamp:freshnes": "warning"}}}},
         r"validation\.canonical\.severities: unknown check name\(s\) 'timestamp:freshnes' "
         r"\(did you mean 'timestamp:freshness'\?\)"),
    ],
)  # fmt: skip
def test_values_a_section_cannot_use_are_refused_when_read(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override)


def test_a_section_written_twice_is_an_error_naming_both_lines(tmp_path):
    # YAML keeps the last of two equal keys: the first `training:` block was dropped silently
    config = tmp_path / "c.yaml"
    config.write_text(
        "training:\n  seed: 7\nscoring:\n  reasons: 2\ntraining:\n  checkpoint: false\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"^config file .*c\.yaml is not valid YAML: found duplicate key 'training' \(first at "
        r"line 1; YAML would keep only the last one\) at line 5, column 1$",
    ):
        load_config(config)
    # an anchor's merged keys may be overridden (that is what `<<` is for)
    merged = yamlfile.safe_load("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 3\n")
    assert merged["b"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    "text, value, line",
    [
        ("generate:\n  start_date: 2024-02-30\n", "'2024-02-30'", 2),
        ("splits:\n  end: 2024-13-01\n", "'2024-13-01'", 2),
        ("validation:\n  canonical:\n    reference_time: 2024-02-30T00:00:00\n",
         "'2024-02-30T00:00:00'", 3),
    ],
)  # fmt: skip
def test_an_impossible_date_is_named_with_its_line(tmp_path, capsys, text, value, line):
    # before: PyYAML's bare ValueError ("day is out of range for month"), a traceback, exit 1
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main(["-c", str(config), "models"]) == 2
    err = capsys.readouterr().err
    assert f"{value} is not a valid date or time" in err
    assert f"at line {line}," in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "text, key",
    [
        ("training:\n  distributed:\n    num_workers: true\n", "training.distributed.num_workers"),
        ("training:\n  optimizer: {type: adam, learning_rate: yes}\n",
         "training.optimizer.learning_rate"),
        ("training:\n  distributed:\n    group_size: on\n", "training.distributed.group_size"),
        ("balancing:\n  unionpay_subsets: {normal_ratio: off}\n",
         "balancing.unionpay_subsets.normal_ratio"),
    ],
)  # fmt: skip
def test_a_boolean_for_a_number_is_named(tmp_path, text, key):
    # before: pydantic read true as 1 (one worker, a learning rate of 1.0) without a word
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=rf"{key}: expected a number, not the boolean"):
        load_config(config)


def test_booleans_still_set_the_keys_that_take_them():
    config = load_config(
        None, {"training": {"refit": False, "checkpoint": False}, "etl": {"csv_multiline": False}}
    )
    assert config.training.refit.enabled is False and config.training.checkpoint is False


def _file_error(tmp_path, text: str) -> str:
    """The ConfigError message of loading a config file that holds `text`."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(config, check_root=False)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a key as docs/CONFIG.md names it, written as one YAML key: it listed every section
        ("training.distributed.epochs: 3\n",
         "training.distributed.epochs: unknown key (received 3); a YAML key is one name, not a "
         "dotted path: write the sections nested, e.g. training: {distributed: {epochs: 3}}"),
        ("training:\n  distributed.epochs: 3\n",
         "training.distributed.epochs: unknown key (received 3); a YAML key is one name, not a "
         "dotted path: write the sections nested, e.g. distributed: {epochs: 3}"),
        # the advice shows a password as every message does
        ("tracking.uri: http://alice:pw@host:5000\n",
         "e.g. tracking: {uri: 'http://***@host:5000'}"),
    ],
)  # fmt: skip
def test_a_dotted_key_in_the_file_is_told_to_be_nested(tmp_path, text, message):
    said = _file_error(tmp_path, text)
    assert message in said and "pw" not in said


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("splits:\n  - test_days: 7\n",
         "splits: expected a section: its keys indented under it, one `key: value` a line (or "
         "{key: value, ...}), not a list (lines starting with '- ') (received [{'test_days': 7}])"),
        ("tracking: false\n",
         "tracking: expected a section: its keys indented under it, one `key: value` a line (or "
         "{key: value, ...}), not one value (a section that can be turned off takes "
         "`enabled: false` under it) (received False)"),
        ("validation:\n  features:\n    columns:\n      amount_z: [0, 5]\n",
         "validation.features.columns.amount_z: expected a section: "),
    ],
)  # fmt: skip
def test_a_section_given_a_list_or_a_value_says_what_a_section_is(tmp_path, text, message):
    # it was pydantic's "Input should be a valid dictionary or instance of SplitsSection"
    said = _file_error(tmp_path, text)
    assert message in said and "instance of" not in said


def test_a_tab_indent_is_named_as_such(tmp_path):
    # an editor's tab: PyYAML said only "found character '\t' that cannot start any token"
    said = _file_error(tmp_path, "training:\n\tseed: 3\n")
    assert re.search(r"is not valid YAML: found character '\\t' .* at line 2, column 1 .*; YAML "
                     r"indents with spaces, never tabs$", said)  # fmt: skip
