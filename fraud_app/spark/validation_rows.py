"""The validation window's rows on the driver, as NumPy arrays (`collect_validation`): one
Spark job (Arrow batches) under the driver's result cap, or past `max_rows` a stratified
sample with weights.

Used by early stopping (fraud_app.spark.early_stopping), the input encoding's fit and the
estimators. It does not own the sample's design (fraud_app.spark.validation_sample), the
cap (fraud_app.spark.result_cap) or what is done with the rows.
"""

from __future__ import annotations

from fraud_app.spark.data import PartitionData, _arrow_encoder, decode_blocks
from fraud_app.spark.result_cap import result_cap
from fraud_app.spark.validation_sample import stratified_sample

# early stopping scores its validation rows on the driver (fraud_app.spark.result_cap)
VALIDATION_ADVICE = (
    "Early stopping scores the validation rows on the driver: give it a shorter validation "
    "window (splits.validation_days; in a notebook, fewer rows marked by "
    "validationIndicatorCol or a smaller validationFraction), a smaller "
    "training.distributed.early_stopping.max_rows (it scores a weighted sample of a larger "
    "window), or a larger "
    "spark.driver.maxResultSize and spark.driver.memory (spark.conf in the config, or "
    "--conf at spark-submit)"
)


ROW_WEIGHT = "__validation_row_weight"


def collect_validation(
    df,
    *,
    features_col: str,
    label_col: str,
    max_rows: int | None = None,
    seed: int = 0,
    weight_col: str | None = None,
) -> PartitionData:
    """The validation rows as NumPy arrays on the driver (one Spark job, Arrow batches).
    max_rows: past this many rows, a stratified sample with weights (its `w`), see
    fraud_app.spark.validation_sample (one more job, the count); None = every row.
    weight_col: the rows' own weights (an estimator's weightCol), in `w` (times the
    sample's weights when sampled); the caller checks them."""
    from pyspark.sql import functions as F

    from fraud_app.errors import SchemaError

    missing = [c for c in (features_col, label_col, weight_col) if c and c not in df.columns]
    if missing:
        raise SchemaError(
            f"validation DataFrame lacks column(s) {missing}. Available: {df.columns}"
        )
    weight = None
    if max_rows is not None:
        df, weight = stratified_sample(df, label_col=label_col, max_rows=max_rows, seed=seed)
    if weight_col:
        own = F.col(weight_col).cast("double")
        df = df.withColumn(ROW_WEIGHT, own * F.col(weight) if weight else own)
        weight = ROW_WEIGHT
    cols = [features_col, label_col] + ([weight] if weight else [])
    with result_cap("the validation window", VALIDATION_ADVICE):
        rows = (
            df.select(*cols)
            .mapInArrow(_arrow_encoder(features_col, label_col, weight), "block binary")
            .collect()
        )
    return decode_blocks(bytes(r[0]) for r in rows)
