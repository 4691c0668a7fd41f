"""The Params shared by the dlcore estimators and their models (Spark ML conventions).

Column params come from Spark's own mixins (`HasFeaturesCol`, `HasLabelCol`, ...), so the
names, docs and defaults are the ones analysts know from `LogisticRegression`. The network
and training params map one to one onto the `training` config section
(fraud_app.models.config.TrainingSection), which `fraud-app train` reads from YAML: both
routes build the same dlcore model and train it with the same code (the translation to
that section and its errors in the params' names: fraud_app.ml.params_section).
"""

from __future__ import annotations

import difflib

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasFeaturesCol,
    HasLabelCol,
    HasPredictionCol,
    HasProbabilityCol,
    HasRawPredictionCol,
    HasSeed,
    HasThreshold,
    HasValidationIndicatorCol,
    HasWeightCol,
)

from fraud_app.errors import ConfigError
from fraud_app.ml import params_section
from fraud_app.models.config import RefitSection, TrainingSection

_REFIT_DEFAULTS = RefitSection()  # the estimators' refitMethod / refitPasses defaults

# Params that are optional, as in Spark (weightCol has no default there either).
OPTIONAL_PARAMS = ("weightCol", "checkpointDir", "validationIndicatorCol", "ringInterface")
# Params that take None: the optional ones (unset), and the output columns (None leaves
# the column out, as "" does)
NONE_MEANS_UNSET = (*OPTIONAL_PARAMS, "rawPredictionCol", "probabilityCol", "predictionCol")
# Columns every fit / transform reads: "" failed with PySparkKeyError "Key `` does not
# exist", naming no param
INPUT_COLUMNS = ("featuresCol", "labelCol")


def _param(name: str, doc: str, converter) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class DlcoreParams(
    HasFeaturesCol,
    HasLabelCol,
    HasWeightCol,
    HasPredictionCol,
    HasProbabilityCol,
    HasRawPredictionCol,
    HasThreshold,
    HasSeed,
    HasValidationIndicatorCol,
):
    """Params of a dlcore network classifier: the network, the loss, the optimizer, the run."""

    hiddenLayers = _param(
        "hiddenLayers", "widths of the hidden layers, e.g. [64, 32]", TypeConverters.toListInt
    )
    activation = _param(
        "activation", "hidden activation: relu, leaky_relu or tanh", TypeConverters.toString
    )
    dropout = _param(
        "dropout", "dropout rate after each hidden layer, in [0, 1)", TypeConverters.toFloat
    )
    inputEncoding = _param(
        "inputEncoding",
        "input encoding after standardisation: none, or piecewise_linear (each feature also as "
        "encodingBins ramps on quantile bins of the training data, stored in the model)",
        TypeConverters.toString,
    )
    encodingBins = _param(
        "encodingBins", "quantile bins per feature of the piecewise_linear encoding (1-64)",
        TypeConverters.toInt,
    )  # fmt: skip
    inputNoise = _param(
        "inputNoise",
        "standard deviation of Gaussian noise added to the standardised features in training "
        "only (before the input encoding; in units of each feature's standard deviation); "
        "0 = none",
        TypeConverters.toFloat,
    )
    lossType = _param("lossType", "loss: bce or focal", TypeConverters.toString)
    posWeight = _param(
        "posWeight", "weight of the positive class in the bce loss (> 0)", TypeConverters.toFloat
    )
    focalGamma = _param(
        "focalGamma", "focusing exponent of the focal loss (>= 0)", TypeConverters.toFloat
    )
    optimizer = _param("optimizer", "optimizer: adam, adamw, sgd or lars", TypeConverters.toString)
    learningRate = _param(
        "learningRate",
        "base learning rate (scaled linearly with the global batch, with warm-up)",
        TypeConverters.toFloat,
    )
    weightDecay = _param("weightDecay", "weight decay (>= 0)", TypeConverters.toFloat)
    epochs = _param("epochs", "passes over the training data (> 0)", TypeConverters.toFloat)
    batchSize = _param(
        "batchSize",
        "global batch size: samples per step over all workers (divisible by numWorkers)",
        TypeConverters.toInt,
    )
    numWorkers = _param(
        "numWorkers", "model replicas = barrier tasks, one per worker (>= 1)", TypeConverters.toInt
    )
    groupSize = _param(
        "groupSize",
        "iterations per group (unit of progress, checkpoints and recovery); 0 = auto",
        TypeConverters.toInt,
    )
    checkpointDir = _param(
        "checkpointDir",
        "directory for group checkpoints (a failed stage resumes from there); unset = none",
        TypeConverters.toString,
    )
    ringInterface = _param(
        "ringInterface",
        "network interface (e.g. eth1) whose address each worker gives its ring neighbours, "
        "on hosts with several networks; unset = SPARK_LOCAL_IP of the executor, else its "
        "address as Spark knows it (fraud-app train's training.distributed.ring_interface)",
        TypeConverters.toString,
    )
    stageStartTimeout = _param(
        "stageStartTimeout",
        "seconds a training stage waits for all its barrier tasks to start (Spark starts them "
        "only when numWorkers task slots are free at once: another job of the session may "
        "hold them); then the fit fails naming the slots in use (> 0)",
        TypeConverters.toFloat,
    )
    validationFraction = _param(
        "validationFraction",
        "share of rows held out (by row hash) for early stopping; 0 = none. "
        "Alternatively set validationIndicatorCol",
        TypeConverters.toFloat,
    )
    earlyStoppingPatience = _param(
        "earlyStoppingPatience",
        "evaluations without a better validation average precision before training stops "
        "and restores the best weights (>= 1); one evaluation every epoch from the third on "
        "(and after the learning-rate warm-up) and at the end, as fraud-app train's "
        "early_stopping (every_epochs 1, min_epochs 3): with epochs 3 that is one, at the end",
        TypeConverters.toInt,
    )
    mixupAlpha = _param(
        "mixupAlpha",
        "mixup: > 0 trains on convex combinations of pairs of rows and of their labels, "
        "weights ~ Beta(mixupAlpha, mixupAlpha) (soft labels: needs lossType bce); 0 = off",
        TypeConverters.toFloat,
    )
    averageBest = _param(
        "averageBest",
        "with early stopping: end with the mean of the weights of this many best validation "
        "evaluations instead of the best one's (weight averaging along the run; 1 = the best "
        "only)",
        TypeConverters.toInt,
    )
    refit = _param(
        "refit",
        "after early stopping, train again on the training AND validation rows with each "
        "network's best iteration count (as fraud-app train does); the model's validation_ap "
        "is the one before the refit. Needs validationIndicatorCol or validationFraction",
        TypeConverters.toBoolean,
    )
    refitMethod = _param(
        "refitMethod",
        "the refit: 'warm_start' (each network continues from its early-stopped best weights "
        "for refitPasses passes over its training + validation rows, learning rate "
        "cosine-decayed) or 'fresh' (from new initial weights for its best iteration count); "
        "the same as training.refit.method of fraud-app train",
        TypeConverters.toString,
    )
    refitPasses = _param(
        "refitPasses",
        "passes over a network's training + validation rows of a warm-start refit (> 0)",
        TypeConverters.toFloat,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            seed=0,
            hiddenLayers=[64, 32],
            activation="relu",
            dropout=0.1,
            inputEncoding="none",
            encodingBins=8,
            inputNoise=0.0,
            lossType="bce",
            posWeight=1.0,
            focalGamma=2.0,
            optimizer="adam",
            learningRate=1e-3,
            weightDecay=0.0,
            epochs=3.0,
            batchSize=1024,
            numWorkers=2,
            groupSize=0,
            stageStartTimeout=600.0,
            validationFraction=0.0,
            earlyStoppingPatience=3,
            averageBest=1,
            mixupAlpha=0.0,
            refit=False,
            refitMethod=_REFIT_DEFAULTS.method,
            refitPasses=_REFIT_DEFAULTS.passes,
        )

    def _set(self, **kwargs):
        """Spark's _set, with a name the class has no param of named (the constructor and
        setParams pass their keywords here): it was AttributeError "'DlcoreClassifier'
        object has no attribute 'hiddenLayer'", where Spark's classifiers raise TypeError
        "unexpected keyword argument"."""
        unknown = [name for name in kwargs if not self.hasParam(name)]
        if unknown:
            raise ConfigError(self._unknown_param(unknown[0]))
        for name, value in kwargs.items():
            if value is None and name not in NONE_MEANS_UNSET:
                raise ConfigError(self._none_param(name))
            if value == "" and name in INPUT_COLUMNS:
                raise ConfigError(
                    f'{type(self).__name__}: {name} cannot be "" ("" leaves an OUTPUT '
                    "column out, and unsets weightCol / validationIndicatorCol); name the "
                    f"column, or leave it out for its default {self._defaultParamMap[self.getParam(name)]!r}"
                )
        return super()._set(**kwargs)

    def _none_param(self, name: str) -> str:
        """Spark's _set stores None without its type converter: threshold=None or
        validationFraction=None failed in fit with "'<=' not supported between instances
        of 'int' and 'NoneType'", featuresCol=None with "Argument `key` should be int,
        slice or str", naming no param."""
        param = self.getParam(name)
        default = (
            f"leave it out (or clear it) for its default {self._defaultParamMap[param]!r}"
            if self.hasDefault(param)
            else "leave it out"
        )
        return (
            f"{type(self).__name__}: param {name!r} cannot be None; give it a value "
            f"({param.doc}) or {default}"
        )

    def _unknown_param(self, name: str) -> str:
        what = type(self).__name__
        names = sorted(p.name for p in self.params)
        if name == "thresholds":  # Spark's ProbabilisticClassifier param, one per class
            return (
                f"{what} has no param 'thresholds': it is a binary classifier with one "
                "threshold, the fraud probability above which a row is predicted 1; "
                "Spark's thresholds=[t0, t1] is threshold=t1 / (t0 + t1)"
            )
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"{what} has no param {name!r}{hint}. Its params: {', '.join(names)} "
            "(explainParams() describes each)"
        )

    def training_section(self) -> TrainingSection:
        """These params as the `training` config section (validated the same way as YAML:
        fraud_app.ml.params_section)."""
        self.check_threshold()
        return params_section.training_section(self)

    def _opt(self, param: Param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def has_validation(self) -> bool:
        return bool(self._opt(self.validationIndicatorCol)) or (
            self.getOrDefault(self.validationFraction) > 0
        )

    def check_threshold(self) -> None:
        """threshold is a probability (Spark's classifiers validate it in [0, 1] too): 1.5
        or -1 predicted one class for every row without a word."""
        threshold = self.getOrDefault(self.threshold)
        if not 0 <= threshold <= 1:
            raise ConfigError(
                f"{type(self).__name__}: threshold must be in [0, 1] (a row is predicted 1 when "
                f"its fraud probability is above it). Received: {threshold}"
            )


def add_accessors(cls: type) -> type:
    """Spark-style getX()/setX(value) for every param of `cls` that lacks them."""
    probe = cls()
    for param in probe.params:
        suffix = param.name[0].upper() + param.name[1:]

        def getter(self, _name=param.name):
            return self.getOrDefault(_name)

        def setter(self, value, _name=param.name):
            return self._set(**{_name: value})

        getter.__doc__ = f"Gets the value of {param.name} or its default value."
        setter.__doc__ = f"Sets the value of {param.name}: {param.doc}."
        if not hasattr(cls, f"get{suffix}"):
            setattr(cls, f"get{suffix}", getter)
        if not hasattr(cls, f"set{suffix}"):
            setattr(cls, f"set{suffix}", setter)
    return cls
