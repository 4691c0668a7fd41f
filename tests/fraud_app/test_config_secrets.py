"""Config values that hold credentials: the config's error lines never quote them, and a `$`
inside a URI's password is a character of it, not an environment reference (session 23)."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_a_misspelt_section_does_not_quote_the_password_under_it(tmp_path):
    message = _error(tmp_path, "trackng:\n  uri: https://alice:TYPOPW@mlflow.example.com\n")
    assert "TYPOPW" not in message
    assert "trackng: unknown key (received {'uri': 'https://***@mlflow.example.com'})" in message


def test_a_wrong_value_under_a_secret_spark_key_is_not_quoted(tmp_path):
    message = _error(tmp_path, "spark:\n  conf:\n    spark.hadoop.fs.s3a.secret.key: [LISTPW]\n")
    assert "LISTPW" not in message
    assert "spark.conf.spark.hadoop.fs.s3a.secret.key" in message and "received '***'" in message


def test_a_dollar_in_a_uri_password_is_part_of_the_password(tmp_path):
    """`pa$word` was refused as a reference to the variable `word`, quoting the password."""
    path = tmp_path / "c.yaml"
    path.write_text("tracking:\n  uri: postgresql://alice:pa$word1@db.example.com/mlflow\n")
    assert load_config(path).tracking.uri == "postgresql://alice:pa$word1@db.example.com/mlflow"


def test_a_braced_reference_in_the_credentials_is_named_without_quoting_them(tmp_path):
    message = _error(tmp_path, "tracking:\n  uri: https://alice:${MLFLOW_PW}@mlflow.example.com/\n")
    assert "refers to the environment variable MLFLOW_PW" in message
    assert "tracking.uri: 'https://***@mlflow.example.com/'" in message


def test_a_reference_outside_the_credentials_is_still_refused(tmp_path):
    message = _error(tmp_path, "tracking:\n  uri: https://alice:pw@${MLFLOW_HOST}/\n")
    assert "refers to the environment variable MLFLOW_HOST" in message and ":pw@" not in message
