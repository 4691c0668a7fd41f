"""Gradient-boosted trees on the same features: the baseline every backtest fold reports.

"gbt": Spark ML GBTClassifier (ships with PySpark), trained and applied in Spark.
"xgboost": XGBoost's hist trees on the driver (the `baselines` extra, xgboost-cpu); the
training window is collected, so it suits windows that fit in driver memory.
Both take the feature-array column as is (no scaling needed for trees).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import EnvironmentSetupError
from fraud_app.evaluation.config import GbtSection

logger = logging.getLogger(__name__)


def baseline_scores(
    kind: str,
    cfg: GbtSection,
    train: DataFrame,
    test: pd.DataFrame,
    test_df: DataFrame,
    *,
    features_col: str,
    seed: int,
) -> np.ndarray:
    """Fraud probabilities of the baseline for the rows of `test` (a pandas frame with
    transaction_id and, for xgboost, the feature arrays), in its row order."""
    if kind == "xgboost":
        return _xgboost(cfg, train, test, features_col, seed)
    if kind == "gbt":
        return _spark_gbt(cfg, train, test, test_df, features_col, seed)
    raise ValueError(f"unknown baseline {kind!r}")


def check_available(kind: str) -> None:
    """Before any fold trains: the xgboost baseline needs its package (it was found
    missing at the first fold's baseline, after that fold's ensemble had trained)."""
    if kind != "xgboost":
        return
    try:
        import xgboost  # noqa: F401
    except ImportError as exc:
        raise EnvironmentSetupError(
            "backtest.baseline: xgboost needs the xgboost package; install the `baselines` "
            "extra (pip install 'fraud-app[baselines]'; in a checkout: pip install -e "
            "'.[baselines]') or use baseline: gbt (--baseline gbt). "
            f"Importing it failed with {type(exc).__name__}: {exc}"
        ) from exc


def _xgboost(cfg: GbtSection, train: DataFrame, test: pd.DataFrame, features_col: str, seed: int):
    check_available("xgboost")
    import xgboost

    pdf = train.select(features_col, "label").toPandas()
    X = np.stack(pdf[features_col].to_numpy()).astype(np.float32)
    model = xgboost.XGBClassifier(
        n_estimators=cfg.max_iter,
        max_depth=cfg.max_depth,
        learning_rate=cfg.learning_rate,
        tree_method="hist",
        n_jobs=2,
        random_state=seed,
    )
    model.fit(X, pdf["label"].to_numpy(np.float32))
    return model.predict_proba(np.stack(test[features_col].to_numpy()).astype(np.float32))[:, 1]


def _spark_gbt(
    cfg: GbtSection,
    train: DataFrame,
    test: pd.DataFrame,
    test_df: DataFrame,
    features_col: str,
    seed: int,
):
    by_id = dict(spark_gbt_scores(cfg, train, test_df, features_col, seed).toPandas().itertuples(
        index=False, name=None
    ))  # fmt: skip
    return test["transaction_id"].map(by_id).to_numpy(np.float64)


def spark_gbt_scores(
    cfg: GbtSection, train: DataFrame, test_df: DataFrame, features_col: str, seed: int
) -> DataFrame:
    """(transaction_id, _p): the Spark GBT baseline trained on `train`, scoring `test_df`
    on the executors."""
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.functions import array_to_vector, vector_to_array

    def vec(df: DataFrame) -> DataFrame:
        return df.select(
            "transaction_id",
            array_to_vector(F.col(features_col)).alias("_fv"),
            F.col("label").cast("double").alias("_label"),
        )

    model = GBTClassifier(
        featuresCol="_fv",
        labelCol="_label",
        maxIter=cfg.max_iter,
        maxDepth=cfg.max_depth,
        stepSize=cfg.learning_rate,
        seed=seed,
    ).fit(vec(train))
    return model.transform(vec(test_df)).select(
        "transaction_id", vector_to_array(F.col("probability"))[1].alias("_p")
    )
