"""DlcoreClassifier: one dlcore network, trained data-parallel on Spark, as a Spark ML Estimator.

>>> clf = DlcoreClassifier(hiddenLayers=[64, 32], epochs=5, numWorkers=2)
>>> model = Pipeline(stages=[assembler, scaler, clf]).fit(train_df)
>>> model.transform(test_df).select("probability", "prediction")
"""

from __future__ import annotations

import numpy as np
from pyspark import keyword_only

from dlcore.model import Model as Network
from fraud_app.ml.estimator import EnsembleEstimator
from fraud_app.ml.model import EnsembleClassificationModel
from fraud_app.ml.params import add_accessors


@add_accessors
class DlcoreClassificationModel(EnsembleClassificationModel):
    """A fitted DlcoreClassifier: one dlcore network (see EnsembleClassificationModel)."""

    @property
    def network(self) -> Network:
        return self.fitted_ensemble("network").members[0]

    @property
    def weights(self) -> np.ndarray:
        """The network's flat parameter vector (a copy)."""
        # named as itself: a model without networks said "DlcoreClassificationModel.network"
        return self.fitted_ensemble("weights").members[0].params.data.copy()


@add_accessors
class DlcoreClassifier(EnsembleEstimator):
    """Binary classifier: a dlcore MLP trained by the distributed trainer (barrier tasks)."""

    model_class = DlcoreClassificationModel

    @keyword_only
    def __init__(self, **kwargs) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs) -> DlcoreClassifier:
        """Set any of the params by name (keyword arguments only)."""
        return self._set(**self._input_kwargs)
