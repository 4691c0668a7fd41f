"""The rows early stopping scores when the validation window is larger than
`early_stopping.max_rows`: a stratified, weighted sample.

Early stopping scores its validation rows on the driver at every evaluation point
(fraud_app.spark.early_stopping): the whole window's feature vectors live in the
driver's memory, with their standardised and encoded copy. A bank's week of
transactions is tens of millions of rows, which no driver holds, and past
`spark.driver.maxResultSize` the collect itself failed. Past `max_rows`, the stopper
gets every fraud (up to half of `max_rows`, then a share of them too) and a seeded
Bernoulli sample of the normal rows (each class at least 32 rows expected, or all of it:
a sample without one of the classes cannot stop anything), each row weighted by the inverse of its class's
sampling rate: the weighted average precision (dlcore.metrics.average_precision with
`sample_weight`) estimates the whole window's, and only the stopping decision uses it.
The reported validation figures, the alert threshold and the promotion gate are
computed on the whole window by Spark (pipelines.training.validation).

One Spark job counts the rows and the frauds; the sample is `rand(seed)` on the
window's rows in their stored order, like the input encoding's sample, so a rerun on
the same table draws the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

WEIGHT = "__stopping_weight"
# each class's expected rows in a sample: P(a class missing) <= exp(-32), about 1e-14
MIN_PER_CLASS = 32


@dataclass(frozen=True)
class SampleRates:
    rows: int
    positives: int
    positive_rate: float
    negative_rate: float

    @property
    def sampled(self) -> bool:
        return self.positive_rate < 1.0 or self.negative_rate < 1.0


def sample_rates(rows: int, positives: int, max_rows: int) -> SampleRates:
    """Per-class Bernoulli rates that keep about `max_rows` rows: every positive up to
    half of them, the normal rows filling the rest; each class at least MIN_PER_CLASS
    rows (or all of it), whatever max_rows."""
    if rows <= max_rows:
        return SampleRates(rows, positives, 1.0, 1.0)
    negatives = rows - positives
    # at least MIN_PER_CLASS of each class expected (all of a smaller class): a small
    # max_rows drew samples without a fraud, without a normal row or empty (max_rows 3:
    # 3 of 12 seeds), and the stopper refused a window that has both classes
    kept_pos = min(positives, max(MIN_PER_CLASS, max_rows // 2))
    kept_neg = max(MIN_PER_CLASS, max_rows - kept_pos)
    return SampleRates(
        rows,
        positives,
        kept_pos / positives if positives else 1.0,
        min(1.0, kept_neg / negatives) if negatives else 1.0,
    )


def stratified_sample(
    df: DataFrame, *, label_col: str, max_rows: int, seed: int
) -> tuple[DataFrame, str | None]:
    """(df, None) when it has at most `max_rows` rows; else (the sample, its weight
    column). One Spark job (the count)."""
    is_pos = F.col(label_col).cast("double") > 0.5
    counts = df.agg(F.count(F.lit(1)).alias("n"), F.sum(is_pos.cast("long")).alias("p")).first()
    rows, positives = int(counts["n"] or 0), int(counts["p"] or 0)
    rates = sample_rates(rows, positives, max_rows)
    if not rates.sampled:
        return df, None
    rate = F.when(is_pos, F.lit(rates.positive_rate)).otherwise(F.lit(rates.negative_rate))
    sample = df.where(F.rand(seed) < rate).withColumn(
        WEIGHT,
        F.when(is_pos, F.lit(1.0 / rates.positive_rate)).otherwise(
            F.lit(1.0 / rates.negative_rate)
        ),
    )
    logger.info(
        "early stopping scores a stratified sample of the validation window's %d rows "
        "(training.distributed.early_stopping.max_rows: %d): %s of its %d fraud%s and %.4g%% "
        "of its normal rows, weighted back to the whole window",
        rows,
        max_rows,
        "all" if rates.positive_rate >= 1.0 else f"{rates.positive_rate:.4g} x",
        positives,
        "" if positives == 1 else "s",
        100.0 * rates.negative_rate,
    )
    return sample, WEIGHT
