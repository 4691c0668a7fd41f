"""etl.label_values texts compared as the ETL compares the column (review40b).

The config folded a text with str.casefold ('Straße' -> 'strasse') while the ETL lowered
the column with Spark's `lower` ('Straße' -> 'straße'): a configured word holding 'ß' (or
a Greek final sigma) never matched, and every such row was quarantined as invalid_label.

A null marker (NULL, NA, N/A, none, nan, ...) given 0 or 1 was accepted and had no
effect: the label is read as missing before etl.label_values is looked at, so `{NA: 0}`
published those rows unlabelled (or quarantined them) without a word."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted
from tests.fraud_app.etl.test_label_letters import _csv


@pytest.mark.parametrize("text", ["NA", "n/a", " NULL ", "None", "nan", "#N/A", "nil"])
@pytest.mark.parametrize("label", [0, 1])
def test_a_null_marker_given_a_label_is_refused(tmp_path, text, label):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"etl": {"label_values": {text: label}}})
    said = str(err.value)
    assert f"etl.label_values: {text!r}: {label} cannot apply: {text!r} is a null marker" in said
    assert "read as no label before etl.label_values is looked at" in said


def test_a_null_marker_given_null_is_accepted():
    config = load_config(None, {"etl": {"label_values": {"NA": None}}})
    assert config.etl.unknown_labels() == ("na",)


@pytest.mark.spark
def test_a_configured_word_with_sharp_s_is_read(spark, tmp_path):
    labels = ["Groß", "GROß", "klein", "groß", "Klein", "klein"]
    result = _run(spark, tmp_path, {"a.csv": _csv(labels)}, label_values={"Groß": 1, "Klein": 0})
    assert_accounted(spark, result, 6)
    assert result.quarantine_rows == 0
    got = {k: r["label"] for k, r in _rows(spark, result).items()}
    assert got == {"t0": 1, "t1": 1, "t2": 0, "t3": 1, "t4": 0, "t5": 0}
