"""The search of `tune`: its points (every combination of `tune.space`, or distinct
random draws) and each point's config, checked before any data is read. Pure: no data,
no Spark (the CLI plans before the JVM starts). Training and scoring the trials is
pipelines.tune.pipeline's.
"""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any

from pydantic import ValidationError

from fraud_app.config import AppConfig, set_dotted
from fraud_app.config_inert import made_inert
from fraud_app.errors import ConfigError
from fraud_app.evaluation.config import AXIS_TARGETS, TuneSection

# the planning was part of pipelines.tune.pipeline: its lines keep that logger's name
# (the CLI prints `%(name)s`; tests filter on it)
logger = logging.getLogger("pipelines.tune.pipeline")

# tune.space axis -> the config key it sets
AXES: dict[str, str] = {axis: key for axis, (_, _, key) in AXIS_TARGETS.items()}
# axes that act only through the unionpay_subsets balancing strategy
_UNIONPAY_AXES = ("n_subsets", "normal_ratio")
# the loss whose trials pos_weight does not change (fraud_app.models.builders: focal takes
# focal_alpha / focal_gamma; only bce weighs its frauds by pos_weight)
_IGNORES_POS_WEIGHT = "focal"


def plan_trials(cfg: TuneSection) -> list[dict[str, Any]]:
    """The search points: every combination (grid) or `trials` distinct random draws."""
    space = cfg.space.model_dump()
    axes = [(name, space[name]) for name in AXES]
    empty = [name for name, values in axes if not values]
    if empty:
        raise ConfigError(f"tune.space.{empty[0]} is empty: give at least one value per axis")
    for name, values in axes:  # a value listed twice trained the same trials twice
        seen = [v for i, v in enumerate(values) if v in values[:i]]
        if seen:
            raise ConfigError(
                f"tune.space.{name} lists {list(seen[0]) if isinstance(seen[0], tuple) else seen[0]!r} "
                "more than once (its trials would train the same ensemble); list each value once"
            )
    grid = _distinct(
        [dict(zip(AXES, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]
    )
    if cfg.method == "grid":
        return grid
    if cfg.trials > len(grid):  # it ran fewer trials than asked without a word
        logger.warning("tune: %d trials asked, but tune.space has %d combinations; running "
                       "each once", cfg.trials, len(grid))  # fmt: skip
    rng = random.Random(cfg.seed)
    return rng.sample(grid, min(cfg.trials, len(grid)))


def _distinct(grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`grid` with pos_weight left out of the focal points, each such point once: focal
    ignores pos_weight, so `loss: [bce, focal]` x `pos_weight: [1, 3]` trained every focal
    ensemble twice (a quarter of the default grid), the two trials scoring the same AP. A
    focal trial keeps the config's own training.loss.pos_weight."""
    out: list[dict[str, Any]] = []
    for point in grid:
        if point["loss"] == _IGNORES_POS_WEIGHT:
            point = {axis: v for axis, v in point.items() if axis != "pos_weight"}
        if point not in out:
            out.append(point)
    if len(out) < len(grid):
        logger.info("tune: loss %r ignores pos_weight: its trials are not repeated for each "
                       "tune.space.pos_weight value (%d combinations, not %d)",
                       _IGNORES_POS_WEIGHT, len(out), len(grid))  # fmt: skip
    return out


def plan(config: AppConfig, cfg: TuneSection) -> tuple[TuneSection, list[dict[str, Any]]]:
    """The search as run: the effective space and its points, every trial's config checked.
    Pure (no data, no Spark): the CLI calls it before the JVM starts, so a bad space is one
    line in a second, not after a minute of Spark start-up."""
    cfg = effective_space(config, cfg)
    points = plan_trials(cfg)
    check_plan(config, points)
    return cfg, points


def apply_point(config: AppConfig, point: dict[str, Any]) -> AppConfig:
    """`config` with one search point applied (re-validated like a config file)."""
    data = _with_point(config.model_dump(mode="json"), point, config.balancing.strategy)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:  # a value that fits its setting but not the rest
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"tune: the search point {point} gives an invalid config: {why}") from exc


def _with_point(data: dict[str, Any], point: dict[str, Any], strategy: str) -> dict[str, Any]:
    """`data` (a config's model_dump) with each axis of `point` set at its config key; the
    unionpay_subsets axes only under that balancing `strategy`: under another they change
    nothing (effective_space holds them at one value), and written into the best config
    they were keys that strategy ignores, which reading it back warns about (probe55g)."""
    for axis, value in point.items():
        if axis in _UNIONPAY_AXES and strategy != "unionpay_subsets":
            continue
        set_dotted(data, AXES[axis], list(value) if isinstance(value, tuple) else value)
    return data


def best_config(config: AppConfig, point: dict[str, Any]) -> dict[str, Any]:
    """The best config file's content: the settings the config set (as written, defaults
    left out, so they stay defaults when it is read) with `point`'s values; it reads back as
    the trial's config (`apply_point`). Every key of the whole config, defaults included, was
    written: read back, a default became a setting, and `tune` with the file refused the
    default tune.space.n_subsets it holds under another balancing.strategy (`lists 2
    values`), and `etl` read `.tsv` files with the written etl.csv_delimiter ','."""
    trial = apply_point(config, point)
    # a key of the config that the point's settings make do nothing (pos_weight under a
    # focal point) is left out: read back it was warned about, in a file tune wrote
    # (review55g); the file trains the same
    dropped = made_inert(config, trial)
    data = _without(_with_point(config.model_dump(mode="json", exclude_unset=True), point,
                                config.balancing.strategy), dropped)  # fmt: skip
    every = _without(trial.model_dump(mode="json"), dropped)
    if dropped:
        logger.info("tune: %s left out of the best config: its settings make %s do nothing",
                    ", ".join(dropped), "it" if len(dropped) == 1 else "them")  # fmt: skip
    if AppConfig.model_validate(data) != AppConfig.model_validate(every):  # a setting read
        logger.warning("tune: the best config is written with every key, defaults included "
                       "(the settings given alone do not read back as its trial's config)")  # fmt: skip
        return every
    return data


def _without(data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """`data` (a config's model_dump) without the dotted `keys` (those not there: nothing)."""
    for dotted in keys:
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return data


def effective_space(config: AppConfig, cfg: TuneSection) -> TuneSection:
    """`cfg` with the axes that the configured balancing strategy ignores held at one value.
    n_subsets / normal_ratio act only with unionpay_subsets: left at their defaults they are
    not searched (a WARNING says so); written in the config with several values they are an
    error (their trials would train the same ensemble)."""
    strategy = config.balancing.strategy
    if strategy == "unionpay_subsets":
        return cfg
    held = {}
    for axis in _UNIONPAY_AXES:
        values = getattr(cfg.space, axis)
        if len(values) < 2:
            continue
        if axis in cfg.space.model_fields_set:
            raise ConfigError(
                f"tune.space.{axis} lists {len(values)} values, but balancing.strategy is "
                f"{strategy!r}: {', '.join(_UNIONPAY_AXES)} act only with unionpay_subsets, so "
                f"those trials would train the same ensemble. Give tune.space.{axis} one "
                "value, or set balancing.strategy: unionpay_subsets"
            )
        logger.warning("tune.space.%s (default %s) is not searched: balancing.strategy %r "
                       "ignores it", axis, values, strategy)  # fmt: skip
        held[axis] = values[:1]
    return cfg.model_copy(update={"space": cfg.space.model_copy(update=held)}) if held else cfg


def check_plan(config: AppConfig, points: list[dict[str, Any]]) -> list[AppConfig]:
    """Every trial's config, built before any data is read: a point the config refuses is
    an error at once, not after the trials before it trained."""
    return [apply_point(config, point) for point in points]
