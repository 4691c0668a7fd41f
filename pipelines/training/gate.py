"""The promotion gate's decision: this run's model against the champion on one window.

Owns GateContext (what the gate and the model's logging read of a training run), whether
training collects the validation matrix for it (`collect_gate_rows`) and `gate_decision`:
the two APs compared on the validation window, or on its days the champion did not train
on, and the alias with its reason. It does not own loading or scoring the champion
(pipelines.training.champion), the margin rule (fraud_app.tracking.registry.decide) or
registering and moving the alias (pipelines.training.lifecycle).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraud_app.config import AppConfig
from fraud_app.models.provenance import TRAINED_THROUGH
from fraud_app.models.train import evaluate_scores
from fraud_app.tracking.ownership import TRAIN_REFUSED, check_owner
from fraud_app.tracking.registry import GateDecision, decide, undefined
from pipelines.training.champion import Champion, champion_ap, load_champion
from pipelines.training.executor_scores import ExecutorScores
from pipelines.training.gate_features import shown
from pipelines.training.trained_dates import unseen_counts, unseen_days

# the name it logged under before the session 37 split (the CLI prints %(name)s; a test
# filters on it)
logger = logging.getLogger("pipelines.training.lifecycle")


# The validation window's feature matrix is collected for the gate (and the logged model's
# input example) only up to this many values (4 bytes each); larger windows are scored by Spark.
GATE_MATRIX_MAX_VALUES = 50_000_000


def collect_gate_rows(tracker, splits, names: list[str]) -> bool:
    """Whether training's validation collect should bring the feature matrix for the gate."""
    rows = splits.summary["windows"]["validation"]["rows"]
    return bool(tracker.enabled) and rows * len(names) <= GATE_MATRIX_MAX_VALUES


@dataclass(frozen=True)
class GateContext:
    """What the model's logging and the promotion gate read of a training run.

    new_ap: the new model's validation AP; rows: (X, labels) of the validation window
    (nodes.ValidationWindow.gate_rows): the champion is scored on them on the tracking
    thread, with no Spark job beside training; None: by a Spark job on splits.validation.
    scores: the new model's validation scores with the window's columns (label,
    fraud_score, event_date), in the order of `rows`, or, for a window past
    `fits_on_driver`, an ExecutorScores (pipelines.training.executor_scores) that computes
    them where the rows are; they let both be compared on the champion's unseen days only."""

    config: AppConfig
    names: list[str]
    splits: Any
    new_ap: float | None
    features_col: str
    rows: tuple[np.ndarray, np.ndarray] | None = None
    scores: dict[str, Any] | ExecutorScores | None = None


def _window(w) -> dict[str, str]:
    """The window's days: `start` and `end` the dates of its bounds, [start, end) (`end`, the
    `gate.window_end` tag, is read back by trained_dates.registered_through: kept as it
    was), and `last_day`, the last day it holds rows of (the day before a midnight end, a
    noon end's own date), as the reason and the pages name the days compared: the reason
    said `compared on 2024-02-15..2024-02-18` of a window whose last day is 02-17."""
    last = (w.end - dt.timedelta(microseconds=1)).date()
    return {"start": w.start.date().isoformat() if w.start else "",
            "end": w.end.date().isoformat(), "last_day": last.isoformat()}  # fmt: skip


def _defined(ap: float | None) -> float | None:
    """An AP, or None when it is undefined (NaN: recorded as undefined)."""
    return None if undefined(ap) else ap


def gate_decision(tracker, ctx: GateContext) -> GateDecision:
    """The decision (version not yet known): the champion scored on this validation window,
    or on its days after the champion's training data when it trained on some of them."""
    reg = ctx.config.registry
    # never another project's champion (a shared store): compared on this project's window
    check_owner(tracker.client, ctx.config, reg.model_name, TRAIN_REFUSED)
    window = _window(ctx.splits.windows[1])
    loaded = load_champion(tracker.client, ctx.config, ctx.names)
    version, champion, why_not = loaded.version, loaded.ensemble, loaded.why_not
    new_ap = _defined(ctx.new_ap)
    undefined_new = new_ap is None
    unseen = None if version is None or why_not else unseen_days(champion, ctx.scores)
    champ_ap = None
    if unseen is not None:
        window = {**window, "start": unseen[0].isoformat(),
                  "champion_trained_through": str(champion.metadata[TRAINED_THROUGH])}  # fmt: skip
        new_ap = _unseen_ap(ctx.scores, unseen)
    if version is not None and not why_not and (unseen is None or new_ap is not None):
        champ_ap = champion_ap(champion, ctx.splits.validation, ctx.features_col, ctx.rows,
                               unseen, loaded.columns)  # fmt: skip
        champ_ap = _defined(champ_ap)
    alias, reason = _alias_and_reason(ctx, loaded, new_ap, champ_ap, unseen, window)
    return GateDecision(reg.model_name, "", alias, reg.promotion_margin, new_ap, champ_ap,
                        version, window, reason,
                        validation_ap_undefined=undefined_new)  # fmt: skip


def _alias_and_reason(ctx: GateContext, loaded: Champion, new_ap, champ_ap, unseen, window):
    """The alias the new version gets and why, from the APs compared (a WARNING when the
    champion was not compared or the new model's AP is undefined)."""
    reg, version, why_not = ctx.config.registry, loaded.version, loaded.why_not
    if why_not:
        alias = "challenger"
        reason = (
            f"not compared: {why_not}; the champion stays (compare the two with `fraud-app "
            "evaluate`, then `fraud-app promote VERSION` if wanted)"
        )
        logger.warning("promotion gate: %s", reason)
    elif unseen is not None and new_ap is None:
        alias, reason = "challenger", _no_fair_comparison(version, loaded.ensemble, unseen,
                                                          window, ctx.scores)  # fmt: skip
    else:
        alias, reason = decide(new_ap, champ_ap, reg.promotion_margin,
                               champion=version is not None,
                               promote_undefined=reg.promote_undefined_ap)  # fmt: skip
        if unseen is not None:
            reason += (
                f" (compared on {unseen[0]}..{window['last_day']} only: champion v{version} "
                "trained on the window's earlier days)"
            )
        reason += _columns_note(loaded, ctx.names)
    if new_ap is None and not why_not:
        logger.warning("promotion gate: %s", reason)
    return alias, reason


def _columns_note(loaded: Champion, names: list[str]) -> str:
    """What the reason adds when the champion was scored on its own columns of the window."""
    if loaded.columns is None:
        return ""
    own = loaded.ensemble.feature_names
    added = [n for n in names if n not in set(own)]
    what = f"this run added {len(added)}: {shown(added)}" if added else "in its own order"
    return f" (champion v{loaded.version} scored on its own {len(own)} features; {what})"


def _unseen_ap(scores, unseen) -> float | None:
    """The new model's AP on the champion's unseen days (None: no such row, or undefined);
    of scores left on the executors, computed there (as the champion's)."""
    first, mask = unseen
    if isinstance(scores, ExecutorScores):
        return _defined(scores.ap_from(first)) if scores.days_from(first).rows else None
    if not mask.any():
        return None
    labels = np.asarray(scores["label"])[mask]
    return _defined(
        evaluate_scores(labels, np.asarray(scores["fraud_score"])[mask])["average_precision"]
    )


def _no_fair_comparison(version, champion, unseen, window, scores) -> str:
    """Why the gate did not compare: the champion trained on the window's earlier days and
    its later days hold no fair comparison."""
    first = unseen[0]
    rows, frauds = unseen_counts(scores, unseen)
    through = champion.metadata[TRAINED_THROUGH]
    left = (  # an empty range read "the days from 2024-02-18 to 2024-02-18 hold 0 rows"
        f"the days from {first} to {window['last_day']} hold {rows} rows and {frauds} "
        "frauds, no fair comparison"
        if rows
        else "no day of the window is left that it did not train on"
    )
    return (
        f"not compared: champion v{version} trained on this validation window's rows "
        f"before {first} (trained through {through}); {left}; the champion stays "
        "(lengthen splits.validation_days or promote by hand: fraud-app promote VERSION)"
    )
