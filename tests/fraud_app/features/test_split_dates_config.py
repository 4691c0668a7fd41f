"""`splits.by: dates` is checked when the config is read (no Spark).

Before session 51 a config with overlapping windows, or a test window closer to validation
than the label delay, loaded; `train` refused it only after Spark had started and read the
feature table (`fraud-app run`: after the ETL, validation and the feature build). The keys
of by: lengths (`end`, `test_days`, ...) beside dates windows were ignored without a word.
"""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.cli import main

WINDOWS = """splits:
  by: dates
  train: {start: 2024-01-01, end: 2024-01-20}
  validation: {start: %s, end: 2024-01-25}
  test: {start: %s, end: 2024-02-15}
"""


def _config(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_overlapping_date_windows_are_refused_when_the_config_is_read(tmp_path):
    path = _config(tmp_path, WINDOWS % ("2024-01-10", "2024-02-05"))
    with pytest.raises(ConfigError, match=r"splits: splits\.validation \(from 2024-01-10\) "
                                          r"overlaps or precedes splits\.train"):  # fmt: skip
        load_config(path, check_root=False)


def test_the_test_gap_defaults_to_the_label_delay_of_the_features_section(tmp_path):
    # test starts 1 day after validation ends: under the default 7-day label delay the
    # validation window's last labels are not known when the model is trained
    text = WINDOWS % ("2024-01-20", "2024-01-26")
    with pytest.raises(ConfigError, match=r"splits\.test starts 2024-01-26 00:00, less than the "
                                          r"gap of 7 days .*Move it to 2024-02-01 00:00 or later "
                                          r"\(splits\.test_gap_days, default "
                                          r"features\.label_delay_days"):  # fmt: skip
        load_config(_config(tmp_path, text), check_root=False)
    shorter = load_config(_config(tmp_path, text + "features: {label_delay_days: 1}\n"),
                          check_root=False)  # fmt: skip
    assert shorter.splits.test.start.isoformat() == "2024-01-26"
    explicit = text + "  test_gap_days: 1\n"
    assert load_config(_config(tmp_path, explicit), check_root=False).splits.test_gap_days == 1


def test_the_cli_stops_before_spark_naming_the_windows(tmp_path, capsys):
    path = _config(tmp_path, WINDOWS % ("2024-01-20", "2024-01-26"))
    assert main(["-c", str(path), "train"]) == 2
    err = capsys.readouterr().err
    assert "is invalid" in err and "splits.test starts 2024-01-26" in err


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("  end: 2024-03-01\n", "splits.end count"),
        ("  test_days: 3\n  train_days: 30\n", "splits.train_days, splits.test_days count"),
        ("  validation_days: 5\n", "splits.validation_days count"),
        # the default (7) written is not refused: a config written with every key holds it
        # (review51d: tune's trial configs); it changes nothing under either `by`
    ],
)
def test_keys_of_by_lengths_beside_date_windows_are_refused_not_ignored(tmp_path, extra, named):
    path = _config(tmp_path, WINDOWS % ("2024-01-20", "2024-02-05") + extra)
    with pytest.raises(ConfigError, match=rf"{named} the windows back from `end` with by: "
                                          r"lengths; .*remove them \(or set by: lengths\)"):  # fmt: skip
        load_config(path, check_root=False)


def test_date_windows_apart_by_their_gaps_load(tmp_path):
    text = WINDOWS % ("2024-01-22", "2024-02-05") + "  validation_gap_days: 2\n"
    splits = load_config(_config(tmp_path, text), check_root=False).splits
    assert (splits.validation.start.isoformat(), splits.test.start.isoformat()) == (
        "2024-01-22",
        "2024-02-05",
    )
