"""review51d (session 51): what the session's config checks refused that they should not,
what they let through, and four messages. No Spark: the config models and the copies the
CLI makes.

- the keys of by: lengths beside by: dates windows were refused when merely present with
  their defaults, as every config written with every key holds them: `tune` built each
  trial's config so (`apply_point`, a full `model_dump`) and refused every search;
- `features --label-delay-days 10` under dates windows 7 days apart was refused over the
  test gap of the splits, which the features step never reads;
- `splits:` with nothing under it was "not one value (received None)";
- `training.distributed.epoch: 3` (a dotted key, a typo in its last part) listed every
  section;
- `reference_time: 1.7e9` was still read as seconds since 1970;
- the splits windows' error showed the section received as Python reprs;
- `early_stopping: false` was told to take `enabled: false`, a key it does not have.
"""

from __future__ import annotations

import pytest
import yaml

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError
from fraud_app.features.splits import plan_windows
from pipelines.commands._overrides import with_flags
from pipelines.tune.space import apply_point, plan

DATES = """splits:
  by: dates
  train: {start: 2024-01-01, end: 2024-01-15}
  validation: {start: 2024-01-15, end: 2024-01-22}
  test: {start: 2024-01-29, end: 2024-02-05}
"""


def _load(tmp_path, text: str) -> AppConfig:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, check_root=False)


def test_tune_builds_its_trial_configs_under_date_windows(tmp_path):
    config = _load(tmp_path, DATES)
    _space, points = plan(config, config.tune)  # checks every trial's config
    trial = apply_point(config, points[0])
    assert trial.splits.by == "dates" and trial.splits.test == config.splits.test


def test_a_config_written_with_every_key_reads_back_under_date_windows(tmp_path):
    config = _load(tmp_path, DATES)
    again = _load(tmp_path, yaml.safe_dump(config.model_dump(mode="json")))
    assert again.splits == config.splits
    # a value that is not the default is still refused, not ignored
    with pytest.raises(ConfigError, match=r"splits\.test_days count the windows back"):
        _load(tmp_path, DATES + "  test_days: 3\n")


def test_features_with_another_label_delay_is_not_refused_over_the_splits(tmp_path):
    config = _load(tmp_path, DATES)  # test starts 7 days after validation: the delay
    features = with_flags(config.features, "features", label_delay_days=10.0)
    copy = config.model_copy(update={"features": features})  # what `features` builds on
    assert copy.features.label_delay_days == 10.0
    # the steps that read the splits still refuse them under that delay ...
    with pytest.raises(ConfigError, match=r"less than the gap of 10 days"):
        plan_windows(copy.splits, gap_days=copy.splits.gaps(copy.features.label_delay_days))
    # ... and so does a copy that changes the splits, or a file with that delay
    closer = config.splits.model_copy(update={"test_gap_days": 9})
    with pytest.raises(ConfigError, match=r"less than the gap of 9 days"):
        config.model_copy(update={"splits": closer})
    with pytest.raises(ConfigError, match=r"less than the gap of 10 days"):
        _load(tmp_path, DATES + "features: {label_delay_days: 10}\n")


def test_an_empty_section_says_it_is_empty(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "splits:\n  # by: dates\n")
    assert "splits: expected a section, but it is empty (nothing under it)" in str(err.value)
    assert "leave the section out for its defaults" in str(err.value)


def test_a_dotted_key_with_a_typo_in_its_last_part_is_told_to_be_nested(tmp_path):
    # probe51d's advice covered only a path to a real key; `training.distributed.epoch`
    # listed every top-level section, as if the path were not one
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "training.distributed.epoch: 3\n")
    expected = ("training.distributed.epoch: unknown key (received 3); a YAML key is one "
                "name, not a dotted path: write the sections nested, e.g. training: "
                "{distributed: {epochs: 3}} ('epoch' is not a key there; did you mean "
                "'epochs'?)")  # fmt: skip
    assert expected in str(err.value)


@pytest.mark.parametrize("given", ["1.7e9", "'.5'"])
def test_a_number_in_exponent_form_is_no_time_either(tmp_path, given):
    # PyYAML reads 1.7e9 (no '.', no exponent sign) as text, which pydantic read as seconds
    # since 1970 (2023-11-14T22:13:20): probe51d's number check matched digits and a dot only
    with pytest.raises(ConfigError, match=r"reference_time: expected a date and time such as "
                                          r"2024-03-01T00:00:00 .*not the number"):  # fmt: skip
        _load(tmp_path, f"validation: {{canonical: {{reference_time: {given}}}}}\n")


def test_a_section_checked_whole_is_shown_as_written(tmp_path):
    # the windows' error ended with `datetime.date(2024, 1, 15)` for each date, and on a
    # copy with the section's Python repr, every default included
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, DATES + "features: {label_delay_days: 10}\n")
    message = str(err.value)
    assert "'validation': {'start': '2024-01-15', 'end': '2024-01-22'}" in message
    assert "datetime.date(" not in message
    config = _load(tmp_path, DATES)
    closer = config.splits.model_copy(update={"test_gap_days": 9})
    with pytest.raises(ConfigError) as err:
        config.model_copy(update={"splits": closer})
    message = str(err.value)
    given = "(received {'by': 'dates', 'test_gap_days': 9.0, 'train': {'start': '2024-01-01'"
    assert given in message
    assert "SplitsSection(" not in message and "train_days" not in message


def test_a_boolean_for_a_section_is_told_how_that_section_turns_off(tmp_path):
    # every section given `false` was told to take `enabled: false`, an unknown key of
    # training.distributed.early_stopping (turned off with null) and of splits
    def line(text: str) -> str:
        with pytest.raises(ConfigError) as err:
            _load(tmp_path, text)
        return str(err.value).splitlines()[-1]

    stopping = line("training: {distributed: {early_stopping: false}}\n")
    assert "(it is turned off with null: `early_stopping: null`)" in stopping
    assert "enabled" not in stopping
    assert "enabled" not in line("splits: false\n")
    assert "takes `enabled: false` under it" in line("tracking: false\n")
