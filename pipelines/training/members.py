"""The ensemble members of a training run: the feature checks on the training window, the
balanced subsets, the members trained on them (`fit_members`) and the refit on train +
validation (`refit_ensemble`, shared with backtest).

It does not own training itself (fraud_app.models.train through pipelines.training.nodes),
the validation window (pipelines.training.validation) or scoring and saving the ensemble
(pipelines.training.final_model, scored_windows).
"""

from __future__ import annotations

import logging

from fraud_app.config import AppConfig
from fraud_app.features.checks import check_window
from fraud_app.models.train import MemberPlan, refit_iterations, refit_plan, sample_fraction
from pipelines.training import nodes
from pipelines.training.report import member_report
from pipelines.training.run_context import Ensembles, RunContext, window_rows
from pipelines.training.validation import validation_window

# the name it logged under before the session 37 split of pipelines/training/pipeline.py
# (the CLI prints %(name)s; test_timeline_gaps filters on it)
logger = logging.getLogger("pipelines.training.pipeline")


def fit_members(ctx: RunContext) -> Ensembles:
    """The feature checks, the balanced subsets and the members trained on them (with
    early stopping on the validation window when configured)."""
    config, splits, lap = ctx.config, ctx.splits, ctx.lap
    # one pass over the window: the checks, the members' standardisation statistics and
    # the input encoding's sample (the rows feature_sample would draw)
    train_rows = splits.summary["windows"]["train"]["rows"]
    encoded = config.training.model.encoding != "none"
    window = check_window(
        splits.train,
        ctx.names,
        vector_column=ctx.vector,
        rows=train_rows,
        label_column="label",
        moments=True,
        sample=(sample_fraction(train_rows), config.training.seed) if encoded else None,
    )
    lap("feature_checks")
    # The subsets are computed once for all members (persisted), not once per member.
    balanced = nodes.balance(splits.train, config.balancing, keep=[ctx.vector]).persist()
    logger.info("balancing: %s", balanced.summary)
    val = validation_window(config, ctx.tracker, splits, ctx.names, ctx.vector)
    lap("balancing_and_validation_window")
    try:
        train = nodes.TrainWindow(splits.train, ctx.names, ctx.vector, rows=window_rows(splits, "train"),
                                  stats=window.moments, encoding_sample=window.sample)  # fmt: skip
        fitted = nodes.fit_ensemble(
            balanced,
            train,
            config.training,
            checkpoint_root=ctx.checkpoints,
            validation_df=val.partition_data() if val is not None else splits.validation,
        )
    finally:
        balanced.unpersist()
    lap("members")
    for k, result in enumerate(fitted.results):
        ctx.tracker.log_member(k, result)
    return Ensembles(fitted, balanced.summary, window.checks, val)


def refit_ensemble(config: AppConfig, splits, fitted, names, vector: str, checkpoints: str):
    """Train again on train + validation (`training.refit`): each member warm-started from
    its early-stopped best weights for `passes` passes, or from a fresh initialisation for
    its chosen iteration count (method "fresh")."""
    cfg = config.training.refit
    plan = refit_plan(fitted, cfg)
    if plan is None:  # refit off, early stopping off, or no usable validation window
        if cfg.enabled:  # it was asked for: say why none runs (it was silent, session 55)
            logger.info(
                "no refit on train + validation (training.refit.enabled): early stopping "
                "chose no iteration count (it is off, or the validation window was unusable)"
            )
        return None, None
    iterations, warm = plan
    data = nodes.refit_data(splits)
    balanced = nodes.balance(data, config.balancing, keep=[vector]).persist()
    logger.info("refit (%s) on train + validation: %s", cfg.method, balanced.summary)
    try:
        refit = nodes.fit_ensemble(
            balanced,
            # refit_data: exactly these windows
            nodes.TrainWindow(data, names, vector, rows=window_rows(splits, "train", "validation")),
            config.training,
            checkpoint_root=f"{checkpoints}/refit",
            # no measuring stage: the members measured
            plan=MemberPlan(
                iterations=iterations, warm_start=warm, stage_timing=fitted.stage_timing
            ),
        )
    finally:
        balanced.unpersist()
    windows = splits.summary["windows"]
    summary = {
        "method": cfg.method,
        "chosen_iterations": refit_iterations(fitted),
        "windows": ["train", "validation"],
        "start": windows["train"]["start"],
        "end": windows["validation"]["end"],
        "rows": windows["train"]["rows"] + windows["validation"]["rows"],
        "balancing": balanced.summary,
        "iterations": [r.iterations for r in refit.results],
        "members": [member_report(r) for r in refit.results],
    }
    return refit, summary
