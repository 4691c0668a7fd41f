"""Which dates a model trained on: what a run records, and what the gate reads of it.

Owns `trained_through` / `trained_from` (written into the model's metadata), `unseen_days`
(this validation window's days a champion did not train on) and `registered_through` (that
date for an older champion, from its registration's `gate.window_end` tag). The metadata
key belongs to fraud_app.models.provenance; what the gate does with the days to
pipelines.training.gate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.provenance import TRAINED_THROUGH
from pipelines.training.executor_scores import ExecutorScores


def trained_through(splits, refit: bool) -> str:
    """The (exclusive) end of the last time window whose labelled rows trained the final
    weights: validation's after a refit on train + validation, else train's. Stored in the
    model's metadata: a later run's gate compares with this model only on validation rows
    from that point on (`unseen_days`)."""
    return splits.windows[1 if refit else 0].end.isoformat()


def trained_from(splits) -> str | None:
    """The start of the train window (None: unbounded, the first rows of the data); with
    `trained_through`, `evaluate` names the window dates the model may have learnt."""
    start = splits.windows[0].start
    return None if start is None else start.isoformat()


def unseen_days(champion: FraudEnsemble, scores) -> tuple[dt.date, np.ndarray | None] | None:
    """(first day, row mask) of this validation window's days that the champion did not
    train on, when it trained on some of them (a refit champion of an earlier run whose
    windows overlap this one's: scored on rows it learnt, it looked better than it is);
    None when it trained on none of them, or that is not known (a model without
    `trained_through`, or validation scores without event_date). Scores left on the
    executors (ExecutorScores) have no mask (None): their rows are counted there."""
    through = champion.metadata.get(TRAINED_THROUGH)
    if not through or scores is None:
        return None
    executors = isinstance(scores, ExecutorScores)
    if not (scores.has_dates if executors else "event_date" in scores):
        return None
    t = dt.datetime.fromisoformat(str(through))
    first = t.date() if t.time() == dt.time() else t.date() + dt.timedelta(days=1)
    if executors:
        return None if not scores.days_from(first).before else (first, None)
    mask = np.asarray(scores["event_date"], dtype="datetime64[D]") >= np.datetime64(first)
    return None if mask.all() else (first, mask)


def unseen_counts(scores, unseen: tuple[dt.date, np.ndarray | None]) -> tuple[int, int]:
    """(rows, frauds) of the validation window from the first unseen day on."""
    first, mask = unseen
    if isinstance(scores, ExecutorScores):
        days = scores.days_from(first)
        return days.rows, days.frauds
    return int(mask.sum()), int(np.sum(np.asarray(scores["label"])[mask] == 1))


def registered_through(champion) -> str | None:
    """An older champion's trained_through from its registration: the day after the
    `gate.window_end` tag (the date its validation window ended, exclusive when at
    midnight; the tag keeps no time of day, so the whole date counts as trained on, at
    worst one unseen day less to compare on). None without the tag."""
    end = (getattr(champion, "tags", None) or {}).get("gate.window_end")
    try:
        day = dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).isoformat()
