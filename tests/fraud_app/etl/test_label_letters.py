"""Label columns as exports write them (session 40's probes).

Letters whose meaning is the export's, F for fraud and N for normal, were read as false
and no: every fraud published as 0 without a word (82 of 82 at the ETL; `validate` then
failed its fraud-rate check, advising a lower label_rate_min), and etl.label_values could
not say otherwise (`'F': 1 contradicts its built-in meaning 0`).

A label text meaning "not known yet" (`pending`) was quarantined as invalid_label with
no setting to read it (label_values took 0 or 1 only): the newest days' rows, the ones to
score, never reached the table."""

from __future__ import annotations

import json
import logging

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark


def _csv(labels: list[str]) -> str:
    return "transaction_id,card_id,timestamp,amount,label\n" + "".join(
        f"t{i},c{i % 3},2024-01-05 10:0{i}:00,1.5,{lab}\n" for i, lab in enumerate(labels)
    )


LABELS = ["N", "F", "n", "N", "F", "N"]


def test_letters_mapped_under_label_values_are_read_with_that_meaning(spark, tmp_path) -> None:
    result = _run(spark, tmp_path, {"a.csv": _csv(LABELS)}, label_values={"F": 1, "N": 0})
    assert_accounted(spark, result, 6)
    labels = {k: r["label"] for k, r in _rows(spark, result).items()}
    assert labels == {"t0": 0, "t1": 1, "t2": 0, "t3": 0, "t4": 1, "t5": 0}
    assert result.mixed_label_words == {}


def test_letters_of_two_kinds_are_named_in_a_warning_and_the_report(spark, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.label_words"):
        result = _run(spark, tmp_path, {"a.csv": _csv(LABELS)})
    assert_accounted(spark, result, 6)
    # read as the built-in words say (false and no), published, and named
    assert {r["label"] for r in _rows(spark, result).values()} == {0}
    assert result.mixed_label_words == {"N": 4, "F": 2}
    report = json.loads(
        (tmp_path / "work" / "canonical" / "_etl_report.json").read_text(encoding="utf-8")
    )
    assert report["mixed_label_words"] == {"N": 4, "F": 2}
    assert (
        "the label column (etl.columns.label) holds words of two kinds, true/false and "
        "yes/no: 'N' (4 rows, read as 0: n of yes/no), 'F' (2 rows, read as 0: f of "
        "true/false)" in caplog.text
    )
    assert "etl.label_values (e.g. {F: 1, N: 0})" in caplog.text


def test_one_kind_of_words_says_nothing(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.label_words"):
        result = _run(spark, tmp_path, {"a.csv": _csv(["Y", "N", "yes", "no", "1", "0"])})
    assert result.mixed_label_words == {}
    assert "two kinds" not in caplog.text


@pytest.mark.parametrize("values", [{"F": 1, "N": 0}, {"t": 0, "Y": 0, "n": 1}])
def test_the_letters_may_take_either_label(values) -> None:
    assert load_config(None, {"etl.label_values": values}).etl.label_values == values


@pytest.mark.parametrize("word", ["false", "no", "0"])
def test_the_words_and_numbers_keep_their_meaning(word) -> None:
    with pytest.raises(ConfigError, match=rf"'{word}': 1 contradicts its built-in meaning 0"):
        load_config(None, {"etl.label_values": {word: 1}})


def test_a_text_mapped_to_null_publishes_its_rows_unlabelled(spark, tmp_path) -> None:
    labels = ["0", "1", "pending", " PENDING ", "0", "N/A"]
    result = _run(spark, tmp_path, {"a.csv": _csv(labels)}, label_values={"Pending": None})
    assert_accounted(spark, result, 6)
    assert result.quarantine_rows == 0
    assert result.unlabelled_rows == 3
    rows = _rows(spark, result)
    assert {k: r["label"] for k, r in rows.items()} == {
        "t0": 0, "t1": 1, "t2": None, "t3": None, "t4": 0, "t5": None}  # fmt: skip
    assert {r["label_time"] for r in rows.values()} == {None}


@pytest.mark.parametrize(
    "values, said",
    [({"0": None}, "'0': null contradicts its built-in meaning 0"),
     ({"pending": None, "Pending": 0}, "'Pending' is given both as 0 and as null")],
)  # fmt: skip
def test_null_is_refused_for_the_words_and_numbers_and_twice_given_texts(values, said) -> None:
    with pytest.raises(ConfigError, match=said):
        load_config(None, {"etl.label_values": values})
