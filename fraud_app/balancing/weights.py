"""Class weights: all rows kept, a `weight` column makes frauds count more in the loss.

inverse_frequency: w_c = n / (2 * n_c) (scikit-learn's "balanced": both classes carry
half the total weight). pos_weight: normals 1.0, frauds `pos_weight`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.balancing.base import BalancedData, BalancingStrategy

WEIGHT_COLUMN = "weight"


class ClassWeights(BalancingStrategy):
    name = "class_weights"
    draws_by_id = False  # every row kept: the id is not read

    def __init__(
        self, *, mode: str = "inverse_frequency", pos_weight: float | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("inverse_frequency", "pos_weight"):
            raise ValueError(
                f"mode must be 'inverse_frequency' or 'pos_weight'. Received: {mode!r}"
            )
        if mode == "pos_weight" and (pos_weight is None or pos_weight <= 0):
            raise ValueError(f"mode 'pos_weight' needs pos_weight > 0. Received: {pos_weight!r}")
        self.mode = mode
        self.pos_weight = pos_weight

    def _balance(self, df: DataFrame) -> BalancedData:
        counts = self.class_counts(df)
        n_frauds, n_normals = counts.get((1, None), 0), counts.get((0, None), 0)
        self.require_classes(n_frauds, n_normals)
        if self.mode == "pos_weight":
            w_fraud, w_normal = float(self.pos_weight), 1.0
        else:
            total = n_frauds + n_normals
            w_fraud = total / (2 * n_frauds)
            w_normal = total / (2 * n_normals) if n_normals else 1.0
        labelled = df.where(self.label.isin(0, 1))
        weighted = labelled.withColumn(
            WEIGHT_COLUMN,
            F.when(self.label == 1, F.lit(w_fraud)).otherwise(F.lit(w_normal)).cast("double"),
        )
        summary = {
            "strategy": self.name,
            "mode": self.mode,
            "frauds": n_frauds,
            "normals": n_normals,
            "unlabeled_rows_dropped": counts.get((None, None), 0),
            "weight_fraud": w_fraud,
            "weight_normal": w_normal,
        }
        return BalancedData((weighted,), summary, weight_column=WEIGHT_COLUMN)
