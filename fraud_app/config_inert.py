"""Config values that another setting makes inert, warned about when the config is read.

A key given in the file whose value the run cannot use because of another setting
(`balancing.unionpay_subsets.n_subsets: 9` under `strategy: class_weights`, refit
settings with `refit.enabled: false`) was accepted and ignored without a word: the user
believed the run used it, and a comparison over it compared a model with itself (probe55g).
One WARNING per such key, naming it, the setting that makes it inert and what to change.
Only keys the file (or an override, or a command's flag) gave (pydantic's
`model_fields_set`) with another value than the default: a default, written or not, is
never warned about. Combinations that are surely a mistake are errors in the sections'
own validators, not here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraud_app.evaluation.config import AXIS_TARGETS

if TYPE_CHECKING:
    from fraud_app.config import AppConfig

logger = logging.getLogger("fraud_app.config")


@dataclass(frozen=True)
class Inert:
    """`keys` (dotted, under the config section `section`) do nothing `under` another
    setting of that section: when `when(s)` holds for the section `s`, because of
    `because(s)` (that setting as the warning names it); `change`: what to do. Every rule
    stays within one section, so a command's flags applied to its section
    (pipelines.commands._overrides.with_flags) are checked too."""

    section: str
    keys: tuple[str, ...]
    under: str  # the condition in words (docs/CONFIG.md)
    when: Callable[[Any], bool]
    because: Callable[[Any], str]
    change: str
    # the deciding setting (dotted, in `section`) where a tune.space axis sets it: a trial
    # may switch it (tune.space.loss), so the key can act in tune though not in the config
    setting: str | None = None


RULES: tuple[Inert, ...] = (
    Inert(
        "etl",
        ("csv_delimiter", "csv_multiline"),
        "etl.format is parquet or json",
        lambda c: c.format in ("parquet", "json"),
        lambda c: f"etl.format is {c.format!r} (they are options of the CSV reader)",
        "set etl.format: csv (or null: from the files' extensions), or remove the key",
    ),
    Inert(
        "etl",
        ("encoding",),
        "etl.format is parquet",
        lambda c: c.format == "parquet",
        lambda c: "etl.format is 'parquet' (a binary format that stores its text as UTF-8)",
        "remove the key (it is for CSV and JSON files)",
    ),
    Inert(
        "balancing",
        ("unionpay_subsets.n_subsets", "unionpay_subsets.normal_ratio"),
        "balancing.strategy is not unionpay_subsets",
        lambda c: c.strategy != "unionpay_subsets",
        lambda c: f"balancing.strategy is {c.strategy!r}",
        "set balancing.strategy: unionpay_subsets, or remove the key",
    ),
    Inert(
        "balancing",
        ("class_weights.mode", "class_weights.pos_weight"),
        "balancing.strategy is not class_weights",
        lambda c: c.strategy != "class_weights",
        lambda c: f"balancing.strategy is {c.strategy!r}",
        "set balancing.strategy: class_weights, or remove the key",
    ),
    Inert(
        "balancing",
        ("class_weights.pos_weight",),
        "balancing.class_weights.mode is inverse_frequency",
        lambda c: c.strategy == "class_weights" and c.class_weights.mode == "inverse_frequency",
        lambda c: (
            "balancing.class_weights.mode is 'inverse_frequency' (weights from the class counts)"
        ),
        "set balancing.class_weights.mode: pos_weight to weigh frauds by it",
    ),
    Inert(
        "balancing",
        ("undersample.normal_ratio",),
        "balancing.strategy is not undersample",
        lambda c: c.strategy != "undersample",
        lambda c: f"balancing.strategy is {c.strategy!r}",
        "set balancing.strategy: undersample, or remove the key",
    ),
    Inert(
        "training",
        ("model.encoding_bins",),
        "training.model.encoding is none",
        lambda c: c.model.encoding == "none",
        lambda c: "training.model.encoding is 'none' (no binned encoding)",
        "set training.model.encoding: piecewise_linear, or remove the key",
    ),
    Inert(
        "training",
        ("loss.focal_alpha", "loss.focal_gamma"),
        "training.loss.type is bce",
        lambda c: c.loss.type != "focal",
        lambda c: f"training.loss.type is {c.loss.type!r}",
        "set training.loss.type: focal, or remove the key",
        "loss.type",
    ),
    Inert(
        "training",
        ("loss.pos_weight",),
        "training.loss.type is focal",
        lambda c: c.loss.type == "focal",
        lambda c: "training.loss.type is 'focal' (it weighs classes by focal_alpha)",
        "set training.loss.type: bce, or tune training.loss.focal_alpha instead",
        "loss.type",
    ),
    Inert(
        "training",
        ("optimizer.momentum",),
        "training.optimizer.type is adam or adamw",
        lambda c: c.optimizer.type in ("adam", "adamw"),
        lambda c: f"training.optimizer.type is {c.optimizer.type!r} (momentum is for sgd and lars)",
        "set training.optimizer.type: sgd or lars, or remove the key",
    ),
    Inert(
        "training",
        ("distributed.epochs",),
        "training.distributed.iterations is set",
        lambda c: c.distributed.iterations is not None,
        lambda c: (
            f"training.distributed.iterations is {c.distributed.iterations} "
            "(iterations, when set, is the length of the run)"
        ),
        "give one of them: remove training.distributed.iterations to train by epochs",
    ),
    Inert(
        "training",
        ("distributed.base_batch_size", "distributed.warmup_iterations"),
        "training.distributed.scale_lr is false",
        lambda c: not c.distributed.scale_lr,
        lambda c: "training.distributed.scale_lr is false (no batch-size scaling, no warm-up)",
        "set training.distributed.scale_lr: true, or remove the key",
    ),
    Inert(
        "training",
        ("distributed.stage_groups", "distributed.encoded_rows_max_bytes"),
        "training.distributed.engine is per_iteration",
        lambda c: c.distributed.engine == "per_iteration",
        lambda c: "training.distributed.engine is 'per_iteration' (one Spark job per step)",
        "set training.distributed.engine: grouped, or remove the key",
    ),
    Inert(
        "training",
        ("distributed.early_stopping.every_epochs",),
        "training.distributed.early_stopping.every_groups is set",
        lambda c: (
            c.distributed.early_stopping is not None
            and c.distributed.early_stopping.every_groups is not None
        ),
        lambda c: (
            "training.distributed.early_stopping.every_groups is "
            f"{c.distributed.early_stopping.every_groups} (it sets when to evaluate)"
        ),
        "give one of them: remove every_groups to evaluate every every_epochs passes",
    ),
    Inert(
        "training",
        ("refit.method", "refit.passes", "refit.learning_rate_scale", "refit.decay"),
        "training.refit.enabled is false",
        lambda c: not c.refit.enabled,
        lambda c: "training.refit.enabled is false (no refit)",
        "set training.refit.enabled: true, or remove the key",
    ),
    Inert(
        "training",
        ("refit.method", "refit.passes", "refit.learning_rate_scale", "refit.decay"),
        "training.distributed.early_stopping is null",
        lambda c: c.refit.enabled and c.distributed.early_stopping is None,
        lambda c: (
            "training.distributed.early_stopping is null (a refit trains for the iteration "
            "count early stopping chose on validation: none is chosen, so no refit runs)"
        ),
        "turn early stopping on (remove early_stopping: null), or remove the key",
    ),
    Inert(
        "training",
        ("refit.passes", "refit.learning_rate_scale", "refit.decay"),
        "training.refit.method is fresh",
        lambda c: c.refit.enabled and c.refit.method == "fresh",
        lambda c: (
            "training.refit.method is 'fresh' (a new initialisation trained for the "
            "early-stopping-chosen iteration count; these settings are the warm start's)"
        ),
        "set training.refit.method: warm_start, or remove the key",
    ),
    Inert(
        "splits",
        ("gap_days",),
        "splits.validation_gap_days and splits.test_gap_days are both set",
        lambda c: c.validation_gap_days is not None and c.test_gap_days is not None,
        lambda c: (
            "splits.validation_gap_days and splits.test_gap_days are both set (gap_days "
            "sets only the gaps not given)"
        ),
        "remove splits.gap_days, or one of the other two",
    ),
    Inert(
        "tune",
        ("trials", "seed"),
        "tune.method is grid",
        lambda c: c.method == "grid",
        lambda c: "tune.method is 'grid' (every combination of tune.space, in order)",
        "set tune.method: random to draw `trials` combinations with `seed`, or remove the key",
    ),
    Inert(
        "backtest",
        ("gbt.max_iter", "gbt.max_depth", "gbt.learning_rate"),
        "backtest.baseline is not gbt",
        lambda c: c.baseline != "gbt",
        lambda c: f"backtest.baseline is {c.baseline!r}",
        "set backtest.baseline: gbt, or remove the key",
    ),
    Inert(
        "backtest",
        ("step_days",),
        "backtest.folds is 1",
        lambda c: c.folds == 1,
        lambda c: "backtest.folds is 1 (step_days is the distance between folds)",
        "set backtest.folds > 1 (or --folds), or remove the key",
    ),
)


def _given(node: Any, dotted: str) -> bool:
    """Whether the dotted key was given (every key on its path in its section's
    model_fields_set) with another value than its default. A default written out changes
    nothing under either setting: configs/demo.yaml lists every strategy's section with
    its defaults as a menu, and a config written with every key (a run's logged config,
    `model_dump()`) holds them all (the splits' rule, review51d)."""
    *parents, last = dotted.split(".")
    for part in parents:
        if node is None or part not in getattr(node, "model_fields_set", ()):
            return False
        node = getattr(node, part)
    if node is None or last not in node.model_fields_set:
        return False
    return getattr(node, last) != type(node).model_fields[last].get_default(
        call_default_factory=True
    )


def section_inert_keys(name: str, section: Any) -> list[str]:
    """One line per key the config section `name` (`section`, its model) was given that
    another of its settings makes inert."""
    return list(_section_inert(name, section).values())


def _section_inert(name: str, section: Any) -> dict[str, tuple[Inert, str]]:
    """key -> (its rule, its line) for each key given that another setting makes inert."""
    found: dict[str, tuple[Inert, str]] = {}
    for rule in RULES:
        if rule.section != name or not rule.when(section):
            continue
        for key in rule.keys:
            if key in found or not _given(section, key):
                continue
            line = f"{name}.{key} is set but has no effect: {rule.because(section)}; {rule.change}"
            found[key] = (rule, line)
    return found


def _in_trials(config: AppConfig, rule: Inert, key: str) -> str:
    """Where tune's trials use `key` though the config makes it inert: a tune.space axis
    sets the rule's deciding setting to a value under which the key acts (a bce config's
    focal_gamma acts in the trials of tune.space.loss 'focal'). A key that is an axis's
    own target is set by the trials themselves. '' when no trial uses it."""
    targets = {target: axis for axis, (_, _, target) in AXIS_TARGETS.items()}
    axis = targets.get(f"{rule.section}.{rule.setting}")
    if rule.setting is None or axis is None or f"{rule.section}.{key}" in targets:
        return ""
    section = getattr(config, rule.section)
    parts = rule.setting.split(".")
    acting = [v for v in getattr(config.tune.space, axis)
              if not rule.when(_with(section, parts, v))]  # fmt: skip
    if not acting:
        return ""
    shown = ", ".join(repr(v) for v in acting)
    return (f" (except in tune: its trials with {rule.section}.{rule.setting} {shown}, from "
            f"tune.space.{axis}, use it)")  # fmt: skip


def _with(node: Any, parts: list[str], value: Any) -> Any:
    """`node` (a model) with the dotted setting `parts` at `value`."""
    child = value if len(parts) == 1 else _with(getattr(node, parts[0]), parts[1:], value)
    return node.model_copy(update={parts[0]: child})


def inert_keys(config: AppConfig) -> list[str]:
    """One line per key the config gave that another setting makes inert; a key some of
    tune's trials use says where (`_in_trials`)."""
    names = dict.fromkeys(rule.section for rule in RULES)
    return [
        line + _in_trials(config, rule, key)
        for name in names
        for key, (rule, line) in _section_inert(name, getattr(config, name)).items()
    ]


def made_inert(before: AppConfig, after: AppConfig) -> list[str]:
    """The keys (dotted from the config's top) given in `after` that its settings make
    inert, and `before`'s did not, and no tune trial of `after` uses (`_in_trials`): a tune
    trial of loss 'focal' makes a bce config's training.loss.pos_weight do nothing (the bce
    trials take theirs from tune.space.pos_weight)."""
    names = dict.fromkeys(rule.section for rule in RULES)
    out = []
    for name in names:
        known = _section_inert(name, getattr(before, name))
        for key, (rule, _) in _section_inert(name, getattr(after, name)).items():
            if key not in known and not _in_trials(after, rule, key):
                out.append(f"{name}.{key}")
    return out


def warn_inert(config: AppConfig) -> None:
    """One WARNING per key given that does nothing under the other settings (`inert_keys`)."""
    for line in inert_keys(config):
        logger.warning("%s", line)


def warn_inert_flags(name: str, before: Any, after: Any) -> None:
    """One WARNING per key of section `name` that a command's flags made inert, or gave
    inert (`tune --method grid --trials 20`): those `after` (the section with the flags)
    has and `before` (as the config gave it, warned about when it was read) has not. A key
    warned about when the config was read that the flags make act (`backtest --folds 4`
    with `folds: 1, step_days: 14`) is named too: that warning was false for this run."""
    known = _section_inert(name, before)
    now = _section_inert(name, after)
    for key, (_, line) in now.items():
        if key not in known or known[key][1] != line:
            logger.warning("%s (with the command's flags)", line)
    for key in known.keys() - now.keys():
        logger.warning("%s.%s does act with the command's flags: the WARNING about it when the "
                       "config was read does not apply to this run", name, key)  # fmt: skip


def reference_lines() -> list[str]:
    """docs/CONFIG.md's table of the keys that do nothing under another setting."""
    lines = [
        "## Keys another setting makes inert",
        "",
        "A key given with another value than its default that does nothing under another",
        "setting is named in one WARNING when the config is read (and when a command's flag",
        "makes it so): `<key> is set but has no effect: <the setting>; <what to change>`",
        "(fraud_app.config_inert). A key some of tune's trials use (a tune.space axis sets",
        "the setting that decides) ends `(except in tune: its trials with ... use it)`; a",
        "command flag that makes a warned key act (`backtest --folds 4` with `folds: 1`)",
        "says `<key> does act with the command's flags`. tune's best config leaves out a",
        "key its point makes inert that no trial uses (a bce config's `loss.pos_weight`",
        "under a focal point).",
        "",
        "| key | does nothing when |",
        "| --- | --- |",
    ]
    for rule in RULES:
        keys = ", ".join(f"`{rule.section}.{key}`" for key in rule.keys)
        lines.append(f"| {keys} | {rule.under} |")
    return [*lines, ""]
