"""An append's two drift checks (fraud_app.etl.column_drift: emptied optional columns,
code values spelt anew) ran a Spark job each over the same added and published rows; one
job now (session 34). Its results equal those of the two jobs of 0d91245 (kept below as
the reference, verbatim) on deliveries that trip both, one, or neither check, with sides
without rows and columns all null."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from fraud_app.etl.column_drift import (
    CODE_COLUMNS,
    FILLED_COLUMNS,
    MIN_EXPECTED_VALUES,
    SHOWN,
    column_drift,
    lost_values,
)

pytestmark = pytest.mark.spark
_NEW, _ROWS = "__added", "__rows"
COLUMNS = list(dict.fromkeys([*FILLED_COLUMNS, *CODE_COLUMNS]))


def emptied_reference(added, published, dates):
    """0d91245's `emptied_columns`."""
    cols = list(FILLED_COLUMNS)
    both = added.select(*cols, F.lit(True).alias(_NEW)).unionByName(
        published.select(*cols, F.lit(False).alias(_NEW))
    )
    held = [F.count(F.col(c)).alias(c) for c in cols]
    counts = {
        r[_NEW]: r for r in both.groupBy(_NEW).agg(F.count(F.lit(1)).alias(_ROWS), *held).collect()
    }
    new, old = counts.get(True), counts.get(False)
    if new is None or old is None:
        return {}
    out = {}
    for c in cols:
        usual, now = old[c] / old[_ROWS], new[c] / new[_ROWS]
        if lost_values(new[_ROWS], new[c], usual):
            out[c] = {"added_share": round(now, 4), "published_share": round(usual, 4),
                      "published_dates": f"{dates[0]}..{dates[-1]}"}  # fmt: skip
    return out


def unseen_reference(added, published, dates):
    """0d91245's `unseen_values`."""
    pairs = F.explode(F.array(*[F.struct(F.lit(c).alias("k"), F.col(c).alias("v"))
                                for c in CODE_COLUMNS]))  # fmt: skip
    both = added.select(pairs.alias("p"), F.lit(True).alias(_NEW)).unionByName(
        published.select(pairs.alias("p"), F.lit(False).alias(_NEW))
    )
    values = (
        both.where(F.col("p.v").isNotNull())
        .groupBy(F.col("p.k").alias("k"), F.col("p.v").alias("v"))
        .agg(
            F.count(F.when(F.col(_NEW), 1)).alias("new"),
            F.count(F.when(~F.col(_NEW), 1)).alias("old"),
        )
        .collect()
    )
    out = {}
    for c in CODE_COLUMNS:
        mine = [r for r in values if r["k"] == c]
        held = sum(r["new"] for r in mine)
        unseen = sorted(
            (r for r in mine if r["new"] and not r["old"]), key=lambda r: (-r["new"], r["v"])
        )
        share = sum(r["new"] for r in unseen) / held if held else 0.0
        if held >= MIN_EXPECTED_VALUES and share >= 0.5:
            seen = sorted((r for r in mine if r["old"]), key=lambda r: (-r["old"], r["v"]))
            out[c] = {
                "added_share": round(share, 4),
                "added_values": [r["v"] for r in unseen[:SHOWN]],
                "published_values": [r["v"] for r in seen[:SHOWN]],
                "published_dates": f"{dates[0]}..{dates[-1]}",
            }
    return out


def _rows(rng: random.Random, n: int, null: dict[str, float], spellings: dict[str, list]):
    return [
        tuple(
            None if rng.random() < null.get(c, 0.1) else rng.choice(spellings.get(c, ["a", "b"]))
            for c in COLUMNS
        )
        for _ in range(n)
    ]


CASES = {  # name: (added rows, published rows, null shares of the added, added spellings)
    "both": (40, 200, {"mcc": 1.0, "device_id": 0.9}, {"country": ["de", "Germany"]}),
    "emptied_only": (30, 100, {"merchant_id": 1.0, "channel": 0.95}, {}),
    "unseen_only": (25, 80, {}, {"mcc": ["5411.0", "5812.0", "5411"], "channel": ["pos"]}),
    "neither": (50, 120, {}, {}),
    "few_added": (3, 60, {"mcc": 1.0}, {"country": ["xx"]}),
    "no_added": (0, 50, {}, {}),
    "no_published": (20, 0, {}, {}),
    "all_null": (20, 40, dict.fromkeys(COLUMNS, 1.0), {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_job_gives_the_two_jobs_results(spark, case):
    n_added, n_published, nulls, spellings = CASES[case]
    rng = random.Random(case)
    usual = {"mcc": ["5411", "5812", "4111"], "channel": ["POS", "ECOM", "ATM"],
             "country": ["DE", "FR"], "card_country": ["DE", "NL"]}  # fmt: skip
    schema = ", ".join(f"{c} string" for c in COLUMNS)
    published = spark.createDataFrame(_rows(rng, n_published, {}, usual), schema)
    added = spark.createDataFrame(_rows(rng, n_added, nulls, {**usual, **spellings}), schema)
    dates = ["2024-03-01", "2024-03-07"]
    expected = (emptied_reference(added, published, dates),
                unseen_reference(added, published, dates))  # fmt: skip
    assert column_drift(added, published, dates) == expected
    if case in ("both", "emptied_only"):
        assert expected[0]
    if case in ("both", "unseen_only"):
        assert expected[1]


def test_the_checks_run_one_spark_job(spark):
    """Was two (one per check) over the same rows."""
    rng = random.Random(1)
    schema = ", ".join(f"{c} string" for c in COLUMNS)
    published = spark.createDataFrame(_rows(rng, 50, {}, {}), schema)
    added = spark.createDataFrame(_rows(rng, 20, {"mcc": 1.0}, {}), schema)
    sc, group = spark.sparkContext, f"drift-{rng.random()}"
    adaptive = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # AQE runs each stage as a job
    try:
        sc.setJobGroup(group, "column drift")
        emptied, _ = column_drift(added, published, ["2024-03-01", "2024-03-07"])
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    assert "mcc" in emptied
    assert len(sc.statusTracker().getJobIdsForGroup(group)) == 1
