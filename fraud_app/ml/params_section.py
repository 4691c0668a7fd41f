"""The Params of fraud_app.ml.params.DlcoreParams as the `training` config section
(fraud_app.models.config.TrainingSection): the section's keys built from the params,
validated as `fraud-app train`'s YAML is, and every error worded in the params' names
(`numWorkers`, `hiddenLayers[1]`), not the config's keys.

Owns that translation and its errors; the params themselves (names, docs, defaults,
Spark's conventions) are fraud_app.ml.params'.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from fraud_app.config_base import error_message
from fraud_app.errors import ConfigError
from fraud_app.models.config import EarlyStoppingSection, TrainingSection

if TYPE_CHECKING:
    from fraud_app.ml.params import DlcoreParams


def training_section(params: DlcoreParams) -> TrainingSection:
    """`params` as the `training` config section (validated the same way as YAML); the
    threshold is DlcoreParams.training_section's to check."""
    _check_group_size(params)
    section = _validated_section(params, _section_spec(params))
    _check_validation_use(params)
    return section


def _check_group_size(params: DlcoreParams) -> None:
    size = params.getOrDefault(params.groupSize)
    if size < 0:
        raise ConfigError(
            f"{type(params).__name__}: groupSize must be >= 1 (iterations per group), or 0 "
            f"for auto. Received: {size}"
        )


def _section_spec(params: DlcoreParams) -> dict:
    """The `training` section's keys, as YAML would give them (not validated yet)."""
    g = params.getOrDefault
    return {
        "seed": g(params.seed),
        "model": {
            "hidden": tuple(g(params.hiddenLayers)),
            "activation": g(params.activation),
            "dropout": g(params.dropout),
            "encoding": g(params.inputEncoding),
            "encoding_bins": g(params.encodingBins),
            "input_noise": g(params.inputNoise),
        },
        "loss": {
            "type": g(params.lossType),
            "pos_weight": g(params.posWeight),
            "focal_gamma": g(params.focalGamma),
        },
        "optimizer": {
            "type": g(params.optimizer),
            "learning_rate": g(params.learningRate),
            "weight_decay": g(params.weightDecay),
        },
        "distributed": _distributed_spec(params),
        "checkpoint": bool(params._opt(params.checkpointDir)),
        "refit": {
            "enabled": g(params.refit),
            "method": g(params.refitMethod),
            "passes": g(params.refitPasses),
        },
    }


def _early_stopping_spec(params: DlcoreParams) -> dict:
    g = params.getOrDefault
    return {"patience": g(params.earlyStoppingPatience), "average_best": g(params.averageBest)}


def _distributed_spec(params: DlcoreParams) -> dict:
    g = params.getOrDefault
    return {
        "num_workers": g(params.numWorkers),
        "global_batch_size": g(params.batchSize),
        "epochs": g(params.epochs),
        "group_size": g(params.groupSize) or "auto",
        "mixup_alpha": g(params.mixupAlpha),
        "early_stopping": _early_stopping_spec(params) if params.has_validation() else None,
        "ring_interface": params._opt(params.ringInterface) or None,
        "stage_start_timeout_s": g(params.stageStartTimeout),
    }


def _validated_section(params: DlcoreParams, spec: dict) -> TrainingSection:
    """`spec` validated as YAML is; an error names the estimator's param, not the key."""
    try:
        # the early-stopping params are checked even when no validation rows use them
        # (earlyStoppingPatience=-1 was accepted without a word)
        EarlyStoppingSection.model_validate(_early_stopping_spec(params))
        section = TrainingSection.model_validate(spec)
        section.distributed.to_config(seed=section.seed, checkpoint_dir=None)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = error_message(first)
        if first["type"] == "value_error" and not first["loc"]:
            # a rule across params: its message names the keys (it printed
            # "invalid param : Value error, ..." and the whole section as "Received")
            raise ConfigError(f"{type(params).__name__}: {_param_names(msg)}") from None
        raise ConfigError(
            f"{type(params).__name__}: invalid param {_param_of(first['loc'])}: "
            f"{msg}. Received: {first.get('input')!r}"
        ) from None
    except ConfigError as exc:  # the config's cross-field rules, in the params' names
        raise ConfigError(f"{type(params).__name__}: {_param_names(str(exc))}") from None
    return section


def _check_validation_use(params: DlcoreParams) -> None:
    """validationFraction in [0, 1), not beside validationIndicatorCol; refit needs
    validation rows to count iterations."""
    g = params.getOrDefault
    fraction = g(params.validationFraction)
    if not 0 <= fraction < 1:
        raise ConfigError(
            f"{type(params).__name__}: validationFraction must be in [0, 1). Received: {fraction}"
        )
    indicator = params._opt(params.validationIndicatorCol)
    if indicator and fraction > 0:
        # the column chose the rows and the fraction was ignored without a word: a grid
        # over validationFraction fitted the same model at every point (session 55)
        raise ConfigError(
            f"{type(params).__name__}: validationIndicatorCol ({indicator!r}) and "
            f"validationFraction ({fraction}) both choose the validation rows; set one: the "
            "column marks them, the fraction holds out that share by row hash (unset the "
            "column, or set validationFraction=0.0)"
        )
    if g(params.refit) and not params.has_validation():
        raise ConfigError(
            f"{type(params).__name__}: refit=True needs validation rows to choose the iteration "
            "counts; set validationIndicatorCol or validationFraction, or refit=False"
        )


def inert_params(params: DlcoreParams) -> list[str]:
    """One line per param set (`isSet`: by the constructor, setX, or a CrossValidator's
    param map) to another value than its default that another param makes do nothing.
    Spark ML fits such a param without a word, so a grid over it fitted the same model at
    every point and compared it with itself (probe55g); `fraud-app train`'s config gives
    its pairs one WARNING each (fraud_app.config_inert). The estimators log each line once
    per fit."""
    g = params.getOrDefault
    validation = params.has_validation()
    rules = [
        ("earlyStoppingPatience", not validation, "no validation rows (validationIndicatorCol "
         "and validationFraction unset): nothing stops early", "set one of them"),
        ("averageBest", not validation, "no validation rows (validationIndicatorCol and "
         "validationFraction unset): no evaluations to average", "set one of them"),
        ("refitMethod", not g(params.refit), "refit is False", "set refit=True"),
        ("refitPasses", not g(params.refit), "refit is False", "set refit=True"),
        ("refitPasses", g(params.refit) and g(params.refitMethod) == "fresh",
         "refitMethod is 'fresh' (the best iteration count from new weights)",
         "set refitMethod='warm_start'"),
        ("encodingBins", g(params.inputEncoding) == "none", "inputEncoding is 'none'",
         "set inputEncoding='piecewise_linear'"),
        ("posWeight", g(params.lossType) == "focal", "lossType is 'focal'", "set lossType='bce'"),
        ("focalGamma", g(params.lossType) != "focal", f"lossType is {g(params.lossType)!r}",
         "set lossType='focal'"),
    ]  # fmt: skip
    lines, seen = [], set()
    for name, inert, why, change in rules:
        param = params.getParam(name)
        if not inert or name in seen or not params.isSet(param):
            continue
        if params.hasDefault(param) and g(param) == params._defaultParamMap[param]:
            continue  # its default, as a config's default written out: nothing to say
        seen.add(name)
        lines.append(f"{type(params).__name__}: {name} is set ({g(param)!r}) but has no "
                     f"effect: {why}; {change}, or clear it (a grid over it fits the same "
                     "model at every value)")  # fmt: skip
    return lines


# `training` config keys -> the estimators' param names (for the errors a user reads)
_PARAM_OF = {
    "seed": "seed",
    "model.hidden": "hiddenLayers",
    "model.activation": "activation",
    "model.dropout": "dropout",
    "model.encoding": "inputEncoding",
    "model.encoding_bins": "encodingBins",
    "model.input_noise": "inputNoise",
    "loss.type": "lossType",
    "loss.pos_weight": "posWeight",
    "loss.focal_gamma": "focalGamma",
    "optimizer.type": "optimizer",
    "optimizer.learning_rate": "learningRate",
    "optimizer.weight_decay": "weightDecay",
    "distributed.num_workers": "numWorkers",
    "distributed.global_batch_size": "batchSize",
    "distributed.epochs": "epochs",
    "distributed.group_size": "groupSize",
    "distributed.mixup_alpha": "mixupAlpha",
    "distributed.ring_interface": "ringInterface",
    "distributed.stage_start_timeout_s": "stageStartTimeout",
    "distributed.early_stopping.patience": "earlyStoppingPatience",
    "distributed.early_stopping.average_best": "averageBest",
    # EarlyStoppingSection's own keys (checked alone, above)
    "patience": "earlyStoppingPatience",
    "average_best": "averageBest",
    "refit.enabled": "refit",
    "refit.method": "refitMethod",
    "refit.passes": "refitPasses",
}


def _param_of(loc: tuple) -> str:
    """A pydantic error location in the `training` section as the param's name: model.hidden.1
    -> hiddenLayers[1] (an element of a list param), unknown keys as they are."""
    parts = [str(p) for p in loc]
    index = [p for p in parts if p.isdigit()]
    key = ".".join(p for p in parts if not p.isdigit())
    name = _PARAM_OF.get(key, key)
    return f"{name}[{index[0]}]" if index and key in _PARAM_OF else name


def _param_names(message: str) -> str:
    """A `training` config message with each key (training.distributed.num_workers,
    training.distributed.global_batch_size, num_workers) written as its param name (numWorkers)."""
    for key, param in sorted(_PARAM_OF.items(), key=lambda kv: -len(kv[0])):
        leaf = key.rsplit(".", 1)[-1]
        for spelled in (f"training.{key}", f"training.{leaf}"):
            message = message.replace(spelled, param)
        if "." in key:  # a section's own message: distributed.mixup_alpha, loss.type
            message = re.sub(rf"(?<![\w.]){re.escape(key)}\b", param, message)
        if "_" in leaf:  # plain words such as 'epochs' or 'seed' stay as they are
            message = re.sub(rf"\b{leaf}\b", param, message)
    return message
