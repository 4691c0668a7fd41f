"""review51d (session 51): what the session's config checks refused that they should not,
and a message. No Spark: the config models and the copies the CLI makes.

- the keys of by: lengths beside by: dates windows were refused when merely present with
  their defaults, as every config written with every key holds them: `tune` built each
  trial's config so (`apply_point`, a full `model_dump`) and refused every search.
"""

from __future__ import annotations

import pytest
import yaml

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError
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
