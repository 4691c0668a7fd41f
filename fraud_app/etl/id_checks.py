"""Ids an export writes for "unknown" (etl.missing_ids), read as missing: the count and its WARNING.

A card_id or transaction_id that is such a placeholder is quarantined by the rules
(fraud_app.etl.rules, `missing_required_field`); a merchant_id or device_id is optional,
so its row is published with that id null. Published as a real id, every unknown
merchant of an export was ONE merchant: its velocity and fraud-rate features mixed
unrelated transactions, on every such row, without a word. This module counts the
optional ids so read (per column and value, in the ETL report's `placeholder_ids`) and
says so once per column. Owns neither the test (rules) nor the setting (etl.config).
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.etl.id_marks import OPTIONAL_IDS, PLACEHOLDER
from fraud_app.etl.rules import REASON

logger = logging.getLogger(__name__)
_SHOWN = 5  # values named in the WARNING (the report holds every one)


def summary_columns() -> dict[str, Column]:
    """Per optional id, its published-bound staged rows read as missing by etl.missing_ids
    (fraud_app.etl.stage_summary computes them as the stage is written)."""
    ok = F.col(REASON).isNull()
    return {f"__placeholder_rows_{c}": F.count(F.when(ok, F.col(PLACEHOLDER + c)))
            for c in OPTIONAL_IDS}  # fmt: skip


def placeholders_of(metrics: dict, stage: DataFrame) -> dict[str, dict[str, int]]:
    """`count_placeholders(stage)` when the values of `summary_columns()` (`metrics`) say
    some rows were read so, else {} without a job (session 41: was a job on every run)."""
    if not any(metrics[f"__placeholder_rows_{c}"] for c in OPTIONAL_IDS):
        return {}
    return count_placeholders(stage)


def count_placeholders(stage: DataFrame) -> dict[str, dict[str, int]]:
    """{column: {value as written: rows}} of the optional ids etl.missing_ids read as
    missing, among the rows that passed the rules (the published-bound ones); {} when
    none (one job over the staged rows' two working columns)."""
    pairs = F.explode(F.array(*[
        F.struct(F.lit(c).alias("column"), F.col(PLACEHOLDER + c).alias("value"))
        for c in OPTIONAL_IDS
    ])).alias("p")  # fmt: skip
    counted = (
        stage.filter(F.col(REASON).isNull())
        .select(pairs)
        .where(F.col("p.value").isNotNull())
        .groupBy("p.column", "p.value")
        .count()
        .collect()
    )
    found: dict[str, dict[str, int]] = {}
    for column, value, n in sorted(counted, key=lambda r: (r[0], -r[2], r[1])):
        found.setdefault(column, {})[value] = int(n)
    return found


def warn_placeholders(found: dict[str, dict[str, int]]) -> None:
    """One WARNING per column whose ids were read as missing."""
    for column, values in found.items():
        total = sum(values.values())
        shown = ", ".join(f"{v!r} {n}" for v, n in list(values.items())[:_SHOWN])
        more = f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else ""
        entity = column.removesuffix("_id")
        logger.warning(
            "ETL: %d row(s) name no %s: %s %s%s (etl.missing_ids). They are published with "
            "%s null, so their %s features are undefined (filled as for a row without "
            "one) instead of those of one %s made of every unknown one. If one of these "
            "values is a real id, take it out of etl.missing_ids",
            total, entity, column, shown, more, column, entity, entity,
        )  # fmt: skip
