"""Spark ML estimators over the distributed dlcore trainer (Estimator / Model / Params).

    from fraud_app.ml import DlcoreClassifier, BalancedBaggingClassifier

Both work inside pyspark.ml Pipelines, TrainValidationSplit / CrossValidator and with
BinaryClassificationEvaluator, and save / load the Spark ML way (JSON params, .npz weights).
"""

from fraud_app.ml.bagging import BalancedBaggingClassificationModel, BalancedBaggingClassifier
from fraud_app.ml.classifier import DlcoreClassificationModel, DlcoreClassifier

__all__ = [
    "BalancedBaggingClassificationModel",
    "BalancedBaggingClassifier",
    "DlcoreClassificationModel",
    "DlcoreClassifier",
]
