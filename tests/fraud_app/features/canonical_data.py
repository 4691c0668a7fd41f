"""Small hand-made canonical datasets for feature tests (no generator dependency).

`tricky_rows` packs what breaks point-in-time code: bursts of the same card within
seconds, exact timestamp ties (same card, same merchant), frauds whose label_time
comes days later (some after the label delay, some before), and nulls in optional
columns.
"""

from __future__ import annotations

import datetime as dt
import random

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

SCHEMA = T.StructType(
    [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("card_id", T.StringType()),
        T.StructField("merchant_id", T.StringType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("amount", T.DoubleType()),
        T.StructField("label", T.IntegerType()),
        T.StructField("label_time", T.TimestampType()),
        T.StructField("mcc", T.StringType()),
        T.StructField("channel", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("card_country", T.StringType()),
        T.StructField("device_id", T.StringType()),
    ]
)


def tricky_rows(n: int = 400, seed: int = 7, days: int = 40) -> list[tuple]:
    rng = random.Random(seed)
    cards = [f"c{i}" for i in range(6)]
    merchants = [f"m{i}" for i in range(5)]
    rows: list[tuple] = []
    t = START
    while len(rows) < n:
        gap = rng.choice([0, 0, 1, 5, 30, 600, 3_600, 4 * 3_600, 86_400, 3 * 86_400])
        t = t + dt.timedelta(seconds=gap * rng.random() if gap > 600 else gap)
        t = t.replace(microsecond=0) if rng.random() < 0.7 else t
        if (t - START).days >= days:
            t = START + dt.timedelta(seconds=rng.randrange(days * 86_400))
        burst = rng.choice([1, 1, 1, 2, 3])  # 2-3 rows at the SAME timestamp
        card, merchant = rng.choice(cards), rng.choice(merchants)
        for _ in range(burst):
            rows.append(_row(rng, len(rows), card, rng.choice([merchant, *merchants]), t))
    return rows[:n]


def _row(rng: random.Random, i: int, card: str, merchant: str, t: dt.datetime) -> tuple:
    fraud = 1 if rng.random() < 0.2 else 0
    delay = (
        dt.timedelta(days=rng.choice([0.5, 2, 6.9, 7, 9, 20])) if fraud else dt.timedelta(days=30)
    )
    label_time = t + delay if rng.random() < 0.9 else None  # a few unknown confirmation times
    mcc = rng.choice(["5411", "5812", "5999", None])
    channel = rng.choice(["POS", "ECOM", "ATM"])
    country = rng.choice(["FR", "DE", "US", None])
    device = rng.choice([f"d{rng.randrange(3)}", None, None])
    amount = round(rng.lognormvariate(3, 1), 2)
    return (
        f"t{i:05d}",
        card,
        merchant,
        t,
        amount,
        fraud,
        label_time,
        mcc,
        channel,
        country,
        "FR",
        device,
    )


def frame(spark: SparkSession, rows: list[tuple], *, drop: tuple[str, ...] = ()) -> DataFrame:
    df = spark.createDataFrame(rows, SCHEMA)
    return df.drop(*drop) if drop else df
