"""choice(): the CASE over runs of the lookup table draws exactly what the table says.

The generator's output must not change with the form of the expression (a raw file
written before and after is byte-identical), so every bin of every weight set the
generator uses is compared with the table and with the LOOKUP_SIZE-element array
literal that choice() was before (pick over the table).
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from fraud_app.data import entities as E
from fraud_app.data.patterns import HIGH_RISK_MCC_WEIGHTS
from fraud_app.data.random_exprs import LOOKUP_SIZE, choice, choice_runs, choice_table, pick

WEIGHTS = {
    "home_country": E.HOME_COUNTRY_WEIGHTS,
    "channel": E.CHANNEL_WEIGHTS,
    "card_channel": (75, 25, 0),
    "mcc": E.MCC_WEIGHTS,  # a zero weight in the middle (ATM cash)
    "high_risk_mcc": HIGH_RISK_MCC_WEIGHTS,  # zero weights first and last
    "hours": E.HOUR_WEIGHTS,
    "uniform": [1.0] * 11,
    "single": (3.0,),
    "tiny_share": (1.0, 1e-6, 1.0),  # a category too rare for any bin is never drawn
}


def test_runs_cover_every_bin_in_order() -> None:
    for name, weights in WEIGHTS.items():
        table, runs = choice_table(weights), choice_runs(weights)
        starts = [0] + [end for _, end in runs[:-1]]
        expanded = [
            i for (i, end), start in zip(runs, starts, strict=True) for _ in range(end - start)
        ]
        assert expanded == table, name
        assert runs[-1][1] == LOOKUP_SIZE
        assert all(weights[i] > 0 for i, _ in runs), name


def test_bad_weights_are_refused(spark) -> None:
    with pytest.raises(ValueError, match="non-negative weights"):
        choice(F.lit(0.5), [0.0, 0.0])
    with pytest.raises(ValueError, match="non-negative weights"):
        choice(F.lit(0.5), [1.0, -1.0])


def test_case_form_equals_the_lookup_array_in_every_bin(spark) -> None:
    # each bin's lower edge, middle and last double below its upper edge
    edges = [(b + f) / LOOKUP_SIZE for b in range(LOOKUP_SIZE) for f in (0.0, 0.5, 0.999999)]
    u = spark.createDataFrame([(x,) for x in edges], "u double")
    bins = F.floor(F.col("u") * F.lit(float(LOOKUP_SIZE)))
    cols = []
    for name, weights in WEIGHTS.items():
        cols.append(choice(F.col("u"), weights).alias(f"{name}_case"))
        cols.append(pick(bins, choice_table(weights)).alias(f"{name}_array"))
    rows = u.select("u", *cols).collect()
    assert len(rows) == 3 * LOOKUP_SIZE
    for name, weights in WEIGHTS.items():
        table = choice_table(weights)
        got = [r[f"{name}_case"] for r in rows]
        assert got == [r[f"{name}_array"] for r in rows], name
        assert got == [table[int(r["u"] * LOOKUP_SIZE)] for r in rows], name


def test_zero_padded_ids_are_the_text_of_format_string(spark) -> None:
    """The generator's ids as lpad (cheaper than format_string per row) give the same
    text, padding or not: at the width's edges, beyond it and below zero."""
    from fraud_app.data.entities import card_id, merchant_id, zero_padded
    from fraud_app.data.generator import _ID_MOD, _id_offset, _transaction_id

    values = [0, 7, 99_999_999, 100_000_000, 123_456_789_012, 10**14 - 1, 10**14, -5]
    df = spark.createDataFrame([(v,) for v in values], "n bigint")
    got = df.select(
        card_id(F.col("n")), F.format_string("62%014d", "n"),
        merchant_id(F.col("n")), F.format_string("M%08d", "n"),
        zero_padded("x", F.col("n"), 3), F.format_string("x%03d", "n"),
    ).collect()  # fmt: skip
    assert [(r[0], r[2], r[4]) for r in got] == [(r[1], r[3], r[5]) for r in got]
    # transaction ids (the hash of the row number lies in [0, 2**40): 10 hex digits)
    n = F.pmod(F.col("i") * F.lit(0x9E3779B1) + F.lit(_id_offset(42)), F.lit(_ID_MOD))
    rows = (
        spark.range(0, 2000)
        .select(F.col("id").alias("i"))
        .select(_transaction_id(42, F.col("i")), F.format_string("T%010x", n))
        .collect()
    )
    assert all(r[0] == r[1] for r in rows) and len(rows) == 2000
