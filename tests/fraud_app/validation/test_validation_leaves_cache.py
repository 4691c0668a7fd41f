"""A validation in a notebook's long-lived session leaves its cache as it was (session 39,
helper notebook39): Great Expectations' Spark engine persists the DataFrame it validates
and never unpersists it, so every `validate_canonical` (and the feature table's
validation) left the whole checked table cached (MEMORY_AND_DISK) until the session
ended. A DataFrame the analyst had cached stays cached."""

from __future__ import annotations

import contextlib

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ValidationFailedError
from fraud_app.validation.validate import validate_canonical
from tests.fraud_app.validation.test_fraud_rate_bounds import SCHEMA, _rows

pytestmark = pytest.mark.spark


def _persisted(spark) -> set[int]:
    return set(dict(spark.sparkContext._jsc.getPersistentRDDs()))


def _validate(spark, df, root) -> None:
    cfg = load_config(
        None,
        {"paths.root": str(root), "validation.canonical.reference_time": "2025-03-03T00:00:00"},
    )
    with contextlib.suppress(ValidationFailedError):  # passed or failed: the same cache
        validate_canonical(spark, df, cfg)


def test_a_validation_leaves_nothing_cached(spark, tmp_path):
    analysts = spark.range(7).cache()  # the notebook's own cached frame
    analysts.count()
    before = _persisted(spark)
    df = spark.createDataFrame(_rows(40, 2), SCHEMA)
    _validate(spark, df, tmp_path)
    assert not df.storageLevel.useMemory and not df.storageLevel.useDisk  # was MEMORY_AND_DISK
    assert _persisted(spark) == before
    assert analysts.storageLevel.useMemory
    analysts.unpersist()


def test_a_frame_the_caller_cached_stays_cached(spark, tmp_path):
    df = spark.createDataFrame(_rows(40, 2), SCHEMA).cache()
    df.count()
    _validate(spark, df, tmp_path)
    assert df.storageLevel.useMemory
    df.unpersist()
