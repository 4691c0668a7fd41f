"""What a saved model says (or, saved by an older release, does not say) of the rows it
trained on.

Since session 18 `train` stores `trained_through` (the exclusive end of the last window
whose labelled rows trained the final weights) and `trained_from` in the ensemble's
metadata: the promotion gate compares a champion only on validation days it did not train
on, and `evaluate` names the window dates a model may have learnt. An ensemble saved
before then has neither key; if it was refit on train + validation (its stored
`training.refit.enabled`, the default since session 10), it trained on its own validation
window, whose dates it does not record: scored on a later run's validation window (the
same dates when the data did not grow) it looks better than it is, and nothing said so.
`undated_refit` tells such a model apart, so those readers can say it instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

TRAINED_THROUGH = "trained_through"  # the model metadata key (an ISO datetime, exclusive)
TRAINED_FROM = "trained_from"  # the train window's start (ISO), None: the data's start


def undated_refit(metadata: dict[str, Any]) -> bool:
    """True for a model refit on its validation window that does not record up to when it
    trained (no `trained_through`: saved by a fraud-app before session 18)."""
    if not isinstance(metadata, dict) or metadata.get(TRAINED_THROUGH):
        return False
    training = metadata.get("training")
    refit = training.get("refit") if isinstance(training, dict) else None
    return isinstance(refit, dict) and bool(refit.get("enabled"))


def undated_refit_words(what: str) -> str:
    """The sentence naming such a model (`what`: e.g. "champion v1", "model <dir>")."""
    return (
        f"{what} was saved by an older fraud-app that did not record the dates it trained on "
        "(no trained_through in its ensemble.json metadata), and it was refit on train + "
        "validation, so its own validation window (any dates) was training data to it"
    )


def seen_in_training(metadata: dict[str, Any], start: dt.date, end: dt.date) -> dict | None:
    """The dates of start..end whose labelled rows the model's final weights may have
    trained on, from its metadata: `trained_from` (the train window's start; absent or
    null: the data's start) up to `trained_through` (exclusive: a midnight end leaves its
    own date out). None when no date of the window is such a date, or the model does not
    say (trained before `trained_through` was stored). Evaluated on rows it learnt, a model
    looks better than it is, and the figures said nothing of it."""
    through = metadata.get("trained_through")
    if not through:
        return None
    t = dt.datetime.fromisoformat(str(through))
    last = t.date() - dt.timedelta(days=1) if t.time() == dt.time() else t.date()
    since = metadata.get("trained_from")
    first = dt.datetime.fromisoformat(str(since)).date() if since else None
    low, high = max(start, first) if first else start, min(end, last)
    if low > high:
        return None
    return {
        "first": str(low), "last": str(high), "days": (high - low).days + 1,
        "trained_from": str(since) if since else None, "trained_through": str(through),
    }  # fmt: skip
