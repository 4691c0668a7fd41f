"""Params contract of the estimators (no Spark job needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from fraud_app.errors import ConfigError
from fraud_app.ml import (
    BalancedBaggingClassificationModel,
    BalancedBaggingClassifier,
    DlcoreClassificationModel,
    DlcoreClassifier,
)
from fraud_app.ml.params import OPTIONAL_PARAMS
from fraud_app.models.config import RefitSection, TrainingSection

ALL = [
    DlcoreClassifier,
    BalancedBaggingClassifier,
    DlcoreClassificationModel,
    BalancedBaggingClassificationModel,
]
SPARK_NAMES = {
    "featuresCol",
    "labelCol",
    "weightCol",
    "probabilityCol",
    "rawPredictionCol",
    "predictionCol",
    "threshold",
    "seed",
    "numWorkers",
    "batchSize",
    "epochs",
    "hiddenLayers",
    "activation",
    "dropout",
    "lossType",
    "posWeight",
    "optimizer",
    "learningRate",
    "groupSize",
    "checkpointDir",
    "validationIndicatorCol",
    "validationFraction",
}


@pytest.mark.parametrize("cls", ALL)
def test_the_readme_names_every_param(cls):
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Notebooks / Spark ML API", 1)[1].split("\n## ", 1)[0]
    missing = [p.name for p in cls().params if not re.search(rf"\b{p.name}\b", section)]
    assert missing == [], f"params the README's Spark ML section does not name: {missing}"


@pytest.mark.parametrize("cls", ALL)
def test_every_param_has_a_doc_and_a_default_unless_optional(cls):
    obj = cls()
    names = {p.name for p in obj.params}
    assert names >= SPARK_NAMES
    for p in obj.params:
        assert len(p.doc) > 10, p.name
        assert obj.hasDefault(p) or p.name in OPTIONAL_PARAMS, p.name
        suffix = p.name[0].upper() + p.name[1:]
        assert callable(getattr(obj, f"get{suffix}")) and callable(getattr(obj, f"set{suffix}"))


def test_bagging_adds_subsets_ratio_and_repeats():
    b = BalancedBaggingClassifier(numSubsets=3)
    assert b.getNumSubsets() == 3 and b.getNormalRatio() == 0.0 and b.getNumRepeats() == 1
    assert "numSubsets" in b.explainParams() and "normalRatio" in b.explainParams()
    assert "numRepeats" in b.explainParams()


def test_refit_maps_onto_the_section_and_defaults_off():
    assert DlcoreClassifier().getRefit() is False
    assert DlcoreClassifier().training_section().refit.enabled is False
    on = DlcoreClassifier(refit=True, validationFraction=0.2).training_section()
    assert on.refit.enabled is True and on.refit.method == RefitSection().method
    fresh = DlcoreClassifier(
        refit=True, refitMethod="fresh", refitPasses=3.0, validationFraction=0.2
    ).training_section()
    assert (fresh.refit.method, fresh.refit.passes) == ("fresh", 3.0)
    with pytest.raises(ConfigError, match=r"invalid param refitMethod: "):
        DlcoreClassifier(refitMethod="again").training_section()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"numWorkers": 3, "batchSize": 32}, "DlcoreClassifier: batchSize (32) must be divisible "
         "by numWorkers (3) so every worker gets the same local batch"),
        ({"dropout": 1.5}, "DlcoreClassifier: invalid param dropout: Input should be less than 1. "
         "Received: 1.5"),
        ({"numWorkers": 0}, "DlcoreClassifier: invalid param numWorkers: Input should be greater "
         "than or equal to 1. Received: 0"),
        ({"earlyStoppingPatience": 0, "validationFraction": 0.1}, "DlcoreClassifier: invalid "
         "param earlyStoppingPatience: "),
        # an element of a list param (it said 'model.hidden.1'); 0 means auto for groupSize
        ({"hiddenLayers": [64, 0]}, "DlcoreClassifier: invalid param hiddenLayers[1]: Input "
         "should be greater than or equal to 1. Received: 0"),
        ({"groupSize": -3}, "DlcoreClassifier: groupSize must be >= 1 (iterations per group), "
         "or 0 for auto. Received: -3"),
    ],
)  # fmt: skip
def test_param_errors_use_the_param_names(params, message):
    """They spoke of the config file's keys: 'training.global_batch_size (32) must be divisible
    by num_workers (3)', 'invalid param (model.dropout)'."""
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        DlcoreClassifier(**params).training_section()


def test_training_refit_accepts_a_bool_or_a_section():
    assert TrainingSection.model_validate({"refit": True}).refit == RefitSection()
    assert TrainingSection.model_validate({"refit": False}).refit.enabled is False
    section = TrainingSection.model_validate({"refit": {"method": "fresh"}}).refit
    assert section.enabled and section.method == "fresh"
    with pytest.raises(ValidationError, match="passes"):
        TrainingSection.model_validate({"refit": {"passes": 0}})


def test_copy_keeps_values_and_takes_extra():
    clf = DlcoreClassifier(hiddenLayers=[16, 8], learningRate=0.01)
    twin = clf.copy({clf.epochs: 7.0})
    assert twin.uid == clf.uid and twin is not clf
    assert twin.getHiddenLayers() == [16, 8] and twin.getEpochs() == 7.0
    assert clf.getEpochs() == 3.0  # the original is untouched


def test_explain_params_lists_defaults_and_current_values():
    text = DlcoreClassifier(numWorkers=1).explainParams()
    assert "numWorkers: model replicas" in text and "current: 1" in text
    assert "threshold: threshold in binary classification prediction" in text


def test_setters_return_self_and_seed_default_is_stable():
    clf = DlcoreClassifier().setNumWorkers(1).setBatchSize(32)
    assert clf.getNumWorkers() == 1 and clf.getBatchSize() == 32
    assert DlcoreClassifier().getSeed() == 0


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError, match="keyword arguments"):
        DlcoreClassifier([8])


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: DlcoreClassifier(hiddenLayer=[8]),
            r"DlcoreClassifier has no param 'hiddenLayer' \(did you mean 'hiddenLayers'\?\)\. "
            r"Its params: activation, .*weightDecay \(explainParams\(\) describes each\)",
        ),
        (
            lambda: BalancedBaggingClassifier().setParams(numSubset=3),
            r"BalancedBaggingClassifier has no param 'numSubset' \(did you mean 'numSubsets'\?\)",
        ),
        (
            lambda: DlcoreClassifier(thresholds=[0.3, 0.7]),
            r"no param 'thresholds': it is a binary classifier with one threshold.*"
            r"thresholds=\[t0, t1\] is threshold=t1 / \(t0 \+ t1\)",
        ),
    ],
)
def test_an_unknown_param_is_named_with_the_params_there_are(make, match):
    # it was AttributeError "'DlcoreClassifier' object has no attribute 'hiddenLayer'"
    # (Spark's LogisticRegression(maxIters=3): TypeError "unexpected keyword argument")
    with pytest.raises(ConfigError, match=match):
        make()


def test_params_map_onto_the_training_section():
    section = DlcoreClassifier(
        hiddenLayers=[5], posWeight=3.0, numWorkers=1, batchSize=8, seed=4
    ).training_section()
    assert section.model.hidden == (5,) and section.loss.pos_weight == 3.0 and section.seed == 4
    assert section.distributed.num_workers == 1 and section.distributed.group_size == "auto"


def test_input_noise_and_weight_averaging_map_onto_the_section():
    from fraud_app.models.builders import build_model

    plain = DlcoreClassifier(validationFraction=0.2).training_section()
    assert plain.model.input_noise == 0.0 and plain.distributed.early_stopping.average_best == 1
    assert [type(la).__name__ for la in build_model(plain.model, 3, 0).layer.layers][:2] == [
        "Standardize",
        "Linear",
    ]
    section = DlcoreClassifier(
        inputNoise=0.2, averageBest=3, validationFraction=0.2, inputEncoding="piecewise_linear"
    ).training_section()
    assert section.model.input_noise == 0.2
    assert section.distributed.early_stopping.to_config().average_best == 3
    names = [type(la).__name__ for la in build_model(section.model, 3, 0).layer.layers]
    assert names[:3] == ["Standardize", "GaussianNoise", "PiecewiseLinear"]
    assert DlcoreClassifier(mixupAlpha=0.2).training_section().distributed.mixup_alpha == 0.2
    dist = DlcoreClassifier(mixupAlpha=0.2).training_section().distributed
    assert dist.to_config(seed=0, checkpoint_dir=None).mixup_alpha == 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "swish"}, "activation"),
        ({"dropout": 1.5}, "dropout"),
        ({"numWorkers": 3, "batchSize": 64}, "divisible"),
        ({"validationFraction": 1.0}, "validationFraction"),
        ({"refit": True}, "refit=True needs validation rows"),
        # the column chose the rows and the fraction was ignored: a grid over
        # validationFraction compared one model with itself (session 55)
        ({"validationIndicatorCol": "v", "validationFraction": 0.2},
         r"validationIndicatorCol \('v'\) and validationFraction \(0\.2\) both choose the "
         r"validation rows; set one"),
        # the param's own name (they said model.input_noise, average_best, mixup_alpha)
        ({"inputNoise": -0.1}, r"invalid param inputNoise: "),
        ({"averageBest": 0, "validationFraction": 0.2}, r"invalid param averageBest: "),
        ({"mixupAlpha": -1.0}, r"invalid param mixupAlpha: "),
        ({"mixupAlpha": 0.2, "lossType": "focal"}, "mixupAlpha > 0 gives soft labels"),
        # checked without validation rows too (earlyStoppingPatience=-1 was accepted)
        ({"earlyStoppingPatience": -1}, r"invalid param earlyStoppingPatience: Input should be "
                                        r"greater than or equal to 1\. Received: -1"),
        ({"averageBest": 0}, r"invalid param averageBest: "),
        ({"learningRate": float("inf")}, r"invalid param learningRate: Input should be a finite"),
        ({"ringInterface": "eth0\n"}, r"invalid param ringInterface: "),
        ({"stageStartTimeout": 0.0}, r"invalid param stageStartTimeout: "),
        # a Py4JError from Spark's functions.lit (the validation split's row hash) before
        ({"seed": 2**64, "validationFraction": 0.2}, r"invalid param seed: Input should be less "
                                                     r"than 4611686018427387904"),
    ],
)  # fmt: skip
def test_invalid_params_name_the_param(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DlcoreClassifier(**kwargs).training_section()


@pytest.mark.parametrize(
    "kwargs", [{"numSubsets": 0}, {"normalRatio": -1.0}, {"normalRatio": float("nan")},
               {"numRepeats": 0}]
)  # fmt: skip
def test_bagging_params_are_checked_before_any_data_is_read(kwargs):
    # they were checked after fit's whole-data pass; a NaN normalRatio passed
    with pytest.raises(ConfigError, match=r"^BalancedBaggingClassifier: numSubsets and "):
        BalancedBaggingClassifier(**kwargs).training_section()


def test_the_patience_doc_states_when_the_evaluations_happen():
    # it said "every half epoch"; the estimators take training.distributed.early_stopping's
    # every_epochs 1 and min_epochs 3, so with the default epochs 3 there is one evaluation
    section = DlcoreClassifier(validationFraction=0.2).training_section()
    stopping = section.distributed.early_stopping
    doc = DlcoreClassifier.earlyStoppingPatience.doc
    assert f"every_epochs {stopping.every_epochs:g}, min_epochs {stopping.min_epochs:g}" in doc
    assert "half epoch" not in doc
    assert DlcoreClassifier().getOrDefault("epochs") == stopping.min_epochs == 3


def test_ring_interface_and_stage_start_timeout_reach_the_trainer():
    """A notebook on hosts with several networks names the ring's interface, and one whose
    session runs other jobs bounds the wait for task slots, as `fraud-app train` does with
    training.distributed.ring_interface / stage_start_timeout_s (the estimators had no
    param for either: session 39, helpers net39 and notebook39)."""
    plain = DlcoreClassifier().training_section().distributed
    assert (plain.ring_interface, plain.stage_start_timeout_s) == (None, 600.0)
    section = BalancedBaggingClassifier(ringInterface="eth1", stageStartTimeout=30.0)
    dist = section.training_section().distributed.to_config(seed=0, checkpoint_dir=None)
    assert (dist.ring_interface, dist.stage_start_timeout_s) == ("eth1", 30.0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # fit failed with "'<=' not supported between instances of 'int' and 'NoneType'"
        (lambda: DlcoreClassifier(threshold=None), r"param 'threshold' cannot be None; .*0\.5"),
        (lambda: DlcoreClassifier().setValidationFraction(None), "'validationFraction'"),
        # "Argument `key` should be int, slice or str, got NoneType" from Spark
        (lambda: DlcoreClassifier(featuresCol=None), r"param 'featuresCol' cannot be None"),
        (lambda: (c := DlcoreClassifier()).copy({c.labelCol: None}), "'labelCol'"),
        (lambda: BalancedBaggingClassifier(numSubsets=None), r"'numSubsets' cannot be None"),
        (lambda: DlcoreClassificationModel().setThreshold(None), "'threshold'"),
    ],
)  # fmt: skip
def test_none_for_a_param_that_needs_a_value_is_named(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: DlcoreClassifier(featuresCol=""),
        lambda: DlcoreClassifier().setLabelCol(""),
        lambda: (lambda c: c.copy({c.labelCol: ""}))(DlcoreClassifier()),
        lambda: BalancedBaggingClassifier(featuresCol=""),
    ],
    ids=["featuresCol", "setLabelCol", "copy", "bagging"],
)
def test_an_empty_input_column_is_named_when_set(make):
    # fit / transform failed with PySparkKeyError "[KEY_NOT_EXISTS] Key `` does not exist"
    with pytest.raises(ConfigError, match=r"(featuresCol|labelCol) cannot be \"\""):
        make()


def test_none_unsets_an_optional_param_or_leaves_an_output_column_out():
    clf = DlcoreClassifier(weightCol=None, checkpointDir=None, predictionCol=None)
    assert clf._opt(clf.weightCol) is None and clf.getPredictionCol() is None
    assert clf.training_section().checkpoint is False
