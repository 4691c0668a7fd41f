"""Spark MLlib baselines on the ensemble's feature vectors: where the data is, no collect.

Both see every fraud of the training window and `normal_fraction` of its normals
(seeded), and score any window into a `baseline_<name>` column (probability of fraud).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fraud_app.baselines.config import BaselinesSection
from fraud_app.errors import EmptyInputError, OneClassSampleError

logger = logging.getLogger(__name__)
_VEC, _LABEL = "_baseline_vector", "_baseline_label"


@dataclass
class Baseline:
    name: str
    model: Any  # a fitted pyspark.ml model
    params: dict[str, Any]
    seconds: float
    rows: int
    metrics: dict[str, dict] = field(default_factory=dict)

    @property
    def column(self) -> str:
        return f"baseline_{self.name}"


def _estimators(cfg: BaselinesSection) -> dict[str, tuple[Any, dict[str, Any]]]:
    from pyspark.ml.classification import GBTClassifier, LogisticRegression

    out = {}
    if cfg.logreg.enabled:
        p = cfg.logreg.model_dump(exclude={"enabled"})
        out["logreg"] = (
            LogisticRegression(maxIter=p["max_iter"], regParam=p["reg_param"],
                               elasticNetParam=p["elastic_net_param"], standardization=True),
            p,
        )  # fmt: skip
    if cfg.gbt.enabled:
        p = cfg.gbt.model_dump(exclude={"enabled"})
        out["gbt"] = (
            GBTClassifier(maxIter=p["max_iter"], maxDepth=p["max_depth"], stepSize=p["step_size"],
                          seed=cfg.seed),
            p,
        )  # fmt: skip
    return out


def _assemble(df, features_col: str, label_col: str | None):
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    out = df.withColumn(_VEC, array_to_vector(F.col(features_col)))
    if label_col is not None:
        out = out.withColumn(_LABEL, F.col(label_col).cast("double"))
    return out


def training_sample(train_df, cfg: BaselinesSection, label_col: str = "label"):
    from pyspark.sql import functions as F

    frauds = train_df.where(F.col(label_col) == 1)
    normals = train_df.where(F.col(label_col) != 1)
    if cfg.normal_fraction < 1:
        normals = normals.sample(fraction=cfg.normal_fraction, seed=cfg.seed)
    return frauds.unionByName(normals)


def train_baselines(
    train_df, cfg: BaselinesSection, *, features_col: str, label_col: str = "label"
) -> list[Baseline]:
    """Fit every enabled baseline on one cached sample of the training window."""
    estimators = _estimators(cfg) if cfg.enabled else {}
    if not estimators:
        return []
    data = _assemble(training_sample(train_df, cfg, label_col), features_col, label_col)
    data = _one_partition_per_core(data.select(_VEC, _LABEL)).persist()
    try:
        rows = _check_sample(data, cfg)
        return _fit_side_by_side(estimators, data, rows)
    finally:
        data.unpersist()


def _check_sample(data, cfg: BaselinesSection) -> int:
    """The sample's rows (the job that fills its cache), refused when it holds one class:
    a baseline fitted on frauds only (a `normal_fraction` that keeps no normal of a small
    window) scored every row the same (logreg 1.0, GBT 0.89), an AUC of 0.5 and an AP of
    the fraud rate reported beside the ensemble as the baseline's, without a word."""
    by_label = {r[0]: r[1] for r in data.groupBy(_LABEL).count().collect()}
    rows, frauds = sum(by_label.values()), by_label.get(1.0, 0)
    if rows == 0:
        raise EmptyInputError("baselines: the training window holds no rows")
    if frauds == 0 or frauds == rows:
        held = "no fraud (label = 1) row" if frauds == 0 else "no normal (label != 1) row"
        raise OneClassSampleError(
            f"baselines: their training sample ({rows} rows: every fraud of the training "
            f"window and baselines.normal_fraction {cfg.normal_fraction:g} of its normals, "
            f"seed {cfg.seed}) holds {held}; a baseline fitted on one class scores every "
            "row the same (AUC 0.5, AP the fraud rate). Raise baselines.normal_fraction, "
            "widen the training window, or set baselines.enabled: false"
        )
    return rows


def _fit_side_by_side(estimators: dict[str, tuple[Any, dict[str, Any]]], data, rows: int):
    """Every baseline fitted at the same time, one driver thread each, in the order of
    `estimators`. Their Spark jobs are small (one per L-BFGS evaluation or tree level: two
    tasks of ~0.05 s on the cached sample) with driver work between them, so one after
    the other the cores mostly waited: 126 jobs held the executors 12 s of a 19 s phase
    at 1M rows (docs/BENCHMARKS.md, session 25). Each fit reads the same cached sample
    with its own estimator; its jobs compute what they computed one after the other (the
    figures of a 1M run are the same to the bit). The threads keep the caller's job
    group, description and session tags (PySpark's inheritable_thread_target)."""
    from pyspark.util import inheritable_thread_target

    def fit(name: str, est, params: dict[str, Any]) -> Baseline:
        t0 = time.perf_counter()
        model = est.setFeaturesCol(_VEC).setLabelCol(_LABEL).fit(data)
        seconds = time.perf_counter() - t0
        logger.info("baseline %s: fitted on %d rows in %.1fs", name, rows, seconds)
        return Baseline(name, model, params, seconds, rows)

    with ThreadPoolExecutor(max_workers=len(estimators), thread_name_prefix="baseline") as pool:
        futures = [
            pool.submit(inheritable_thread_target(data.sparkSession)(fit), name, est, params)
            for name, (est, params) in estimators.items()
        ]
        return [f.result() for f in futures]


def _one_partition_per_core(df):
    """`df` in at most one partition per core of the application (defaultParallelism),
    merged without a shuffle. Every L-BFGS evaluation and every tree level is a Spark job
    with one task per partition; the sample (frauds + sampled normals of the feature
    table's scan) ran 11 tasks per job at 1M rows on 2 cores. GBT samples its split
    candidates per partition, so its figures follow this count (README, `baselines`)."""
    return df.coalesce(max(1, df.sparkSession.sparkContext.defaultParallelism))  # never more


def add_scores(df, baselines: list[Baseline], *, features_col: str):
    """df + one `baseline_<name>` column (double, probability of fraud) per baseline."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    if not baselines:
        return df
    out = _assemble(df, features_col, None)
    for b in baselines:
        prob, raw, pred = (f"_{b.name}_{k}" for k in ("prob", "raw", "pred"))
        model = b.model.copy()
        model.setFeaturesCol(_VEC).setProbabilityCol(prob).setRawPredictionCol(raw)
        model.setPredictionCol(pred)
        out = model.transform(out)
        out = out.withColumn(b.column, vector_to_array(F.col(prob))[1].cast("double"))
        out = out.drop(prob, raw, pred)
    return out.drop(_VEC)
