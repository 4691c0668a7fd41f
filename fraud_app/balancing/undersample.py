"""Random undersampling: every fraud + about normal_ratio * n_frauds normals.

A normal is kept iff uniform(hash(id, seed)) < normal_ratio * n_frauds / n_normals: a
Bernoulli draw per row, deterministic for the seed, so the count is close to (not
exactly) the target; the summary reports the exact count kept.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.balancing.base import BalancedData, BalancingStrategy, unit_uniform
from fraud_app.errors import EmptyInputError


class Undersample(BalancingStrategy):
    name = "undersample"

    def __init__(self, *, normal_ratio: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if normal_ratio <= 0:
            raise ValueError(f"normal_ratio must be > 0. Received: {normal_ratio}")
        self.normal_ratio = normal_ratio

    def _balance(self, df: DataFrame) -> BalancedData:
        counts = self.class_counts(df)
        n_frauds, n_normals = counts.get((1, None), 0), counts.get((0, None), 0)
        self.require_classes(n_frauds, n_normals)
        keep = min(1.0, self.normal_ratio * n_frauds / n_normals) if n_normals else 1.0
        normals = self.normals(df).where(unit_uniform(self.id_column, self.seed) < F.lit(keep))
        sample = self.frauds(df).unionByName(normals)
        kept = normals.count()
        if kept == 0:
            # the sample held frauds only and trained a one-class model without a word
            raise EmptyInputError(
                f"balancing strategy {self.name!r}: normal_ratio {self.normal_ratio:g} x "
                f"{n_frauds} fraud(s) kept none of the {n_normals} normals (each kept with "
                f"probability {keep:.3g}), so the sample holds frauds only; raise "
                "balancing.undersample.normal_ratio (about normal_ratio x frauds normals are "
                "kept) or use balancing.strategy: class_weights"
            )
        summary = {
            "strategy": self.name,
            "seed": self.seed,
            "normal_ratio": self.normal_ratio,
            "frauds": n_frauds,
            "normals": n_normals,
            "keep_probability": keep,
            "normals_kept": kept,
            "unlabeled_rows_dropped": counts.get((None, None), 0),
        }
        return BalancedData((sample,), summary)
