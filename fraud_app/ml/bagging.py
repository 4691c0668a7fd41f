"""BalancedBaggingClassifier: the UnionPay ensemble as a Spark ML Estimator.

K balanced subsets (every fraud + a disjoint 1/K share of the normals, at most
normalRatio x frauds of them), one dlcore network each, score = mean probability.
With numRepeats R > 1 the partition is drawn R times (repetition r with seed + r: other
subsets, other initial weights) and the model averages all R x K networks: seed averaging
inside the estimator.
The subsets come from fraud_app.balancing (UnionPaySubsets, by row hash, nothing
collected), the networks from the same training function as `fraud-app train`.
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.balancing.unionpay import UnionPaySubsets, majority_fix
from fraud_app.errors import ConfigError
from fraud_app.ml.classifier import DlcoreClassificationModel
from fraud_app.ml.estimator import ROW_ID, EnsembleEstimator
from fraud_app.ml.model import EnsembleClassificationModel
from fraud_app.ml.params import add_accessors
from fraud_app.models.config import TrainingSection
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.spark.summary import DataSummary


class HasBaggingParams(Params):
    numSubsets = Param(
        Params._dummy(),
        "numSubsets",
        "number of balanced subsets = ensemble members (>= 1)",
        typeConverter=TypeConverters.toInt,
    )
    normalRatio = Param(
        Params._dummy(),
        "normalRatio",
        "each subset keeps at most normalRatio x (number of frauds) normals of its share; "
        "0 = the whole share",
        typeConverter=TypeConverters.toFloat,
    )
    numRepeats = Param(
        Params._dummy(),
        "numRepeats",
        "independent draws of the balanced partition (>= 1): repetition r uses seed + r for its "
        "subsets and seed + r + k for its member k's weights; the model averages all "
        "numRepeats x numSubsets members",
        typeConverter=TypeConverters.toInt,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(numSubsets=5, normalRatio=0.0, numRepeats=1)


class _ParamSubsets(UnionPaySubsets):
    """UnionPaySubsets whose fraud-majority WARNING names the estimator's params (it told
    an analyst to set balancing.unionpay_subsets.n_subsets, a key of a config file they
    do not have)."""

    def error_prefix(self) -> str:
        return "BalancedBaggingClassifier.fit"

    def empty_share_fix(self, n_normals: int) -> str:
        return (
            f"set numSubsets={self.n_subsets} lower (at most the {n_normals} normals; fewer where shares "
            "collide), or use DlcoreClassifier, whose posWeight or weightCol weighs the classes"
        )

    def fraud_majority_fix(self, most: int, cap: int | None = None) -> str:
        other = "DlcoreClassifier, whose posWeight or weightCol weighs the classes"
        if most < 1:
            return f"the data holds more frauds than normals: use {other}"
        fix = majority_fix(
            ("numSubsets", "normalRatio"), self.n_subsets, self.normal_ratio, most, cap
        )
        return f"{fix}, or use {other}"


@add_accessors
class BalancedBaggingClassificationModel(EnsembleClassificationModel, HasBaggingParams):
    """A fitted BalancedBaggingClassifier; `members` are DlcoreClassificationModels."""

    @property
    def members(self) -> list[DlcoreClassificationModel]:
        out, ensemble = [], self.fitted_ensemble("members")
        for k, network in enumerate(ensemble.members):
            member = DlcoreClassificationModel(
                FraudEnsemble([network], list(ensemble.feature_names), {"member": k}),
                [self.history[k]] if k < len(self.history) else [],
            )
            for param in member.params:  # same columns and threshold as the ensemble
                if self.isSet(param.name):
                    member._set(**{param.name: self.getOrDefault(param.name)})
            out.append(member)
        return out


@add_accessors
class BalancedBaggingClassifier(EnsembleEstimator, HasBaggingParams):
    """UnionPay balanced bagging: numSubsets dlcore networks, mean probability."""

    model_class = BalancedBaggingClassificationModel
    whole_data_statistics = True

    @keyword_only
    def __init__(self, **kwargs) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs) -> BalancedBaggingClassifier:
        """Set any of the params by name (keyword arguments only)."""
        return self._set(**self._input_kwargs)

    def training_section(self) -> TrainingSection:
        """The params checked before `fit` reads any data (the bagging ones were checked
        after the whole-data pass; a NaN normalRatio passed)."""
        k, ratio = self.getOrDefault(self.numSubsets), self.getOrDefault(self.normalRatio)
        repeats = self.getOrDefault(self.numRepeats)
        if k < 1 or not ratio >= 0 or repeats < 1:
            raise ConfigError(
                f"BalancedBaggingClassifier: numSubsets and numRepeats must be >= 1 and "
                f"normalRatio >= 0. Received: numSubsets={k}, normalRatio={ratio}, "
                f"numRepeats={repeats}"
            )
        return super().training_section()

    def _subsets(self, train: DataFrame, summary: DataSummary | None) -> list[DataFrame]:
        k, ratio = self.getOrDefault(self.numSubsets), self.getOrDefault(self.normalRatio)
        repeats = self.getOrDefault(self.numRepeats)
        with_id = train.withColumn(ROW_ID, F.xxhash64(*train.columns))
        out = []
        for r in range(repeats):
            strategy = _ParamSubsets(
                n_subsets=k,
                normal_ratio=ratio or None,
                seed=self.getSeed() + r,
                label_column=self.getLabelCol(),
                id_column=ROW_ID,
            )
            out += [s.drop(ROW_ID) for s in strategy.balance(with_id).subsets]
        return out

    def _member_data_hint(self, summary: DataSummary | None) -> str:
        """A subset without normals: numSubsets shares the normals out at random."""
        k = self.getOrDefault(self.numSubsets)
        normals = "the" if summary is None else f"the {summary.rows - summary.positives}"
        return (
            f"That is one of the numSubsets={k} balanced subsets: each holds every fraud and a "
            f"disjoint share of {normals} normal rows, drawn at random, so with few normals per "
            "subset one can get none. Lower numSubsets, or fit on more normal rows"
        )

    def _member_seeds(self, seed: int, members: int) -> list[int]:
        k = self.getOrDefault(self.numSubsets)
        return [seed + m // k + m % k for m in range(members)]
