"""Corrupt a small, deterministic share of raw-layout rows to demo the ETL quarantine.

Each corrupted row gets exactly one defect, so the ETL's per-reason counts can be
compared with what was injected. Works on the generator's raw column names.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.data.random_exprs import choice, uniform

# defect -> what the ETL should answer (fraud_app.etl.rules codes; "duplicate", an
# identical copy, is counted, not quarantined; "conflicting_duplicate" is a copy 60 s
# later, whose later version is quarantined)
DEFECTS: dict[str, str] = {
    "bad_timestamp": "unparseable_timestamp",
    "negative_amount": "amount_below_minimum",
    "absurd_amount": "amount_above_maximum",
    "nan_amount": "non_finite_amount",
    "missing_id": "missing_required_field",
    "missing_card": "missing_required_field",
    "bad_label": "invalid_label",
    "unknown_channel": "unknown_channel",
    "label_before_timestamp": "label_time_before_timestamp",
    "duplicate": "duplicate",
    "conflicting_duplicate": "conflicting_duplicate",
}
_KINDS = tuple(DEFECTS)


def inject_dirty_rows(df: DataFrame, fraction: float, seed: int) -> DataFrame:
    """Corrupt ~`fraction` of rows; duplicate rows get a second copy (identical, or 60 s
    later for a conflicting one)."""
    key = "txn_id"
    kind = F.when(
        uniform(seed, "dirty", key) < F.lit(fraction),
        choice(uniform(seed, "dirty.kind", key), [1.0] * len(_KINDS)),
    )
    # "duplicate" rows are emitted twice (copy 1 is 60 s later) in the same pass: no
    # union, so the generation plan is evaluated once
    is_dup = kind.isin(_KINDS.index("duplicate"), _KINDS.index("conflicting_duplicate"))
    df = df.withColumn("_defect", kind).withColumn(
        "_copy", F.explode(F.when(is_dup, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0))))
    )
    df = df.withColumn(
        "ts",
        F.when(
            (F.col("_copy") == 1) & (F.col("_defect") == _KINDS.index("conflicting_duplicate")),
            _shift(F.col("ts"), 60),
        ).otherwise(F.col("ts")),
    )

    def when(name: str, value: Column, column: str) -> Column:
        return F.when(F.col("_defect") == _KINDS.index(name), value).otherwise(F.col(column))

    bad_ts = F.when(uniform(seed, "dirty.ts", key) < 0.5, F.lit("2024-02-30 25:61:00")).otherwise(
        F.lit("not a date")
    )
    amt = F.col("amt")
    out = df.withColumns(
        {
            "ts": when("bad_timestamp", bad_ts, "ts"),
            "amt": F.when(F.col("_defect") == _KINDS.index("negative_amount"), -amt)
            .when(F.col("_defect") == _KINDS.index("absurd_amount"), F.lit(1e308))
            .when(F.col("_defect") == _KINDS.index("nan_amount"), F.lit(float("nan")))
            .otherwise(amt),
            "txn_id": when("missing_id", F.lit(None).cast("string"), "txn_id"),
            "card_number": when("missing_card", F.lit(""), "card_number"),
            "is_fraud": when("bad_label", F.lit(2), "is_fraud"),
            "entry_mode": when("unknown_channel", F.lit("MOBILE"), "entry_mode"),
        }
    )
    if "label_ts" in df.columns:  # absent in delay-only mode: that defect leaves the row clean
        out = out.withColumn(
            "label_ts", when("label_before_timestamp", _shift(F.col("ts"), -86_400), "label_ts")
        )
    return out.drop("_defect", "_copy")


def _shift(ts: Column, seconds: int) -> Column:
    shifted = F.timestamp_seconds(F.unix_timestamp(ts, "yyyy-MM-dd HH:mm:ss") + F.lit(seconds))
    return F.date_format(shifted, "yyyy-MM-dd HH:mm:ss")
