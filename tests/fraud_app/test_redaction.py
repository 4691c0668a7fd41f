"""fraud_app.redaction: what is a secret, and its redacted form (session 23 probes)."""

from __future__ import annotations

import logging

import pytest

from fraud_app.config import load_config
from fraud_app.redaction import (
    MASK,
    RedactingFilter,
    is_secret_key,
    redact_mapping,
    redact_text,
)
from fraud_app.tracking.runs import flatten


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://alice:s3cret@mlflow.example.com/x", "https://***@mlflow.example.com/x"),
        ("postgresql://u:pa$word@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("https://host/?token=abc&x=1", "https://host/?token=***&x=1"),
        ("https://a.blob.core.windows.net/c?sv=2022&sig=Zx%2B%3D&se=1", "https://a.blob.core.windows.net/c?sv=2022&sig=***&se=1"),
        ("s3://b/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=ab12", "s3://b/k?X-Amz-Credential=***&X-Amz-Signature=***"),
        ("jdbc:postgresql://h/db?user=u&password=pw", "jdbc:postgresql://h/db?user=u&password=***"),
        ("error at http://u:p@h:1 (then https://v:q@g)", "error at http://***@h:1 (then https://***@g)"),
        ("sqlite:////tmp/root/mlflow.db", "sqlite:////tmp/root/mlflow.db"),
        ("models:/fraud-ensemble@champion", "models:/fraud-ensemble@champion"),
        ("alice@example.com wrote x=1", "alice@example.com wrote x=1"),
        ("https://host/?page=2&size=10", "https://host/?page=2&size=10"),
        ("abfss://scores@acct.dfs.core.windows.net/x", "abfss://scores@acct.dfs.core.windows.net/x"),
        ("wasbs://c:KEY@acct.blob.core.windows.net/x", "wasbs://***@acct.blob.core.windows.net/x"),
        ("https://ghp_TOKEN@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ],
)  # fmt: skip
def test_redact_text(text, shown):
    assert redact_text(text) == shown


@pytest.mark.parametrize(
    "key",
    ["spark.hadoop.fs.s3a.secret.key", "spark.hadoop.fs.s3a.access.key",
     "spark.hadoop.fs.s3a.session.token", "fs.azure.account.key.acct.dfs.core.windows.net",
     "spark.hadoop.fs.gs.auth.service.account.private.key", "spark.ssl.keyStorePassword",
     "spark.authenticate.secret", "password", "api_key", "sig", "X-Amz-Signature",
     "spark.hadoop.fs.azure.sas.token"],
)  # fmt: skip
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["spark.hadoop.fs.s3a.encryption.key", "spark.hadoop.fs.s3a.bucket.b1.encryption.key",
     "spark.hadoop.fs.s3a.server-side-encryption.key", "spark.hadoop.fs.gs.encryption.key"],
)  # fmt: skip
def test_customer_supplied_encryption_keys_are_secrets(key):
    """An SSE-C / CSEK key decrypts the data: it was recorded whole in the run's params
    (`config.spark.conf.<key>`), config.json and the CLI's conf lines (session 51)."""
    assert is_secret_key(key)
    conf = {"spark": {"conf": {key: "q2Fv0Yk8zQ3m6bNwXo7hJ1cT9pLr4sGd2aUe5iVy0B8="}}}
    assert redact_mapping(conf) == {"spark": {"conf": {key: "***"}}}


@pytest.mark.parametrize("key", ["spark.io.encryption.keySizeBits",
                                 "spark.io.encryption.keygen.algorithm",
                                 "spark.io.encryption.enabled"])  # fmt: skip
def test_sparks_encryption_settings_are_no_secrets(key):
    assert not is_secret_key(key)


def test_no_key_of_the_apps_own_config_reads_as_a_secret():
    """Redaction must not hide a setting of ours: every key of the default config passes."""
    keys = flatten(load_config(None).model_dump(mode="json"))
    assert [k for k in keys if is_secret_key(k)] == []


def test_redact_mapping_masks_secret_keys_and_redacts_text():
    data = {
        "spark": {"conf": {"spark.hadoop.fs.s3a.secret.key": "K", "spark.sql.shuffle.partitions": "4",
                           "spark.hadoop.fs.s3a.session.token": ""}},
        "tracking": {"uri": "https://u:p@h/", "enabled": True},
        "etl": {"input": ["s3a://b/x?token=T", "/data/x.csv"]},
    }  # fmt: skip
    assert redact_mapping(data) == {
        "spark": {"conf": {"spark.hadoop.fs.s3a.secret.key": MASK, "spark.sql.shuffle.partitions": "4",
                           "spark.hadoop.fs.s3a.session.token": ""}},
        "tracking": {"uri": "https://***@h/", "enabled": True},
        "etl": {"input": ["s3a://b/x?token=***", "/data/x.csv"]},
    }  # fmt: skip
    assert data["spark"]["conf"]["spark.hadoop.fs.s3a.secret.key"] == "K"  # a copy


def test_the_filter_redacts_message_arguments_and_traceback(capfd):
    logger = logging.getLogger("tests.redaction")
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("store %s failed", "http://alice:ARGPW@h:5000")
        try:
            raise RuntimeError("GET https://bob:TBPW@h/api failed")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    err = capfd.readouterr().err
    assert "ARGPW" not in err and "TBPW" not in err
    assert "store http://***@h:5000 failed" in err and "GET https://***@h/api failed" in err
