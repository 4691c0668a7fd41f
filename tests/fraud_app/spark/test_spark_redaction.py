"""The app's Spark sessions mask what fraud_app masks (session 51, probe51e).

Spark masks a setting in SQL `SET`, the UI's and REST API's environment and the event log
when its key matches `spark.redaction.regex`, whose default (secret|password|token|
access.key) missed an Azure account key, a GCS service account's private key and an S3A
customer-supplied encryption key: `SET` showed each in clear."""

from __future__ import annotations

import pytest

from fraud_app.redaction import SECRET_KEY
from fraud_app.spark.session import DEFAULT_CONF, merged_conf

KEYS = [
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
    "spark.hadoop.fs.gs.auth.service.account.private.key",
    "spark.hadoop.fs.s3a.encryption.key",
]


@pytest.mark.spark
def test_sparks_own_listing_masks_the_storage_keys_fraud_app_masks(spark):
    try:
        for key in KEYS:
            spark.conf.set(key, "SEKRET-VALUE")
        shown = {row[0]: row[1] for row in spark.sql("SET").collect()}
    finally:
        for key in KEYS:
            spark.conf.unset(key)
    assert {k: shown[k] for k in KEYS} == {k: "*********(redacted)" for k in KEYS}


def test_a_redaction_regex_of_the_config_or_the_cluster_wins():
    key = "spark.redaction.regex"
    assert DEFAULT_CONF[key] == SECRET_KEY.pattern
    assert merged_conf({key: "(?i)secret|mine"}, None)[key] == "(?i)secret|mine"
    assert merged_conf(None, None, {key: "(?i)theirs"}).get(key) is None  # spark-defaults'
