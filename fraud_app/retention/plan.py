"""Which items of one kind a retention rule removes: pure, no files touched.

Owns the decision (the newest `keep_last`, anything younger than `max_age_days`, the
newest always, the items the caller protects with a reason); does not own finding the
items or removing them (pipelines.prune)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from fraud_app.retention.config import KeepRule

# an item dated later than now by more than this (a clock set ahead, a copy that kept a
# skewed host's times) is kept on its own line and not counted: as "the newest" it made
# keep_last 1 remove the real newest
FUTURE_SLACK = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Item:
    """One removable record: a training run, a report, a cache entry. `paths` are removed
    together; `when` dates it (UTC)."""

    kind: str
    name: str
    when: dt.datetime
    paths: tuple[Path, ...]
    group: str = ""  # a family within the kind (backtest, tune, ...): the rule counts per family


@dataclass(frozen=True)
class Decision:
    item: Item
    remove: bool
    why: str  # why it is kept (or "beyond keep_last 3 and older than 30 days")


def decide(
    items: list[Item], rule: KeepRule, now: dt.datetime, protected: dict[str, str] | None = None
) -> list[Decision]:
    """One Decision per item, newest first. `protected`: item name -> why it must stay
    (a registry alias, a run in progress); those are kept whatever the rule says and do not
    count towards keep_last (keep_last counts the items the rule itself keeps). The newest
    item and keep_last count per `group` (each family of a kind keeps its own newest N)."""
    protected = protected or {}
    ordered = sorted(items, key=lambda i: (i.when, i.name), reverse=True)
    out, kept = [], {}  # group -> items the rule kept so far
    for item in ordered:
        if item.name in protected:
            out.append(Decision(item, False, protected[item.name]))
            continue
        # a time ahead of now would make it "the newest" in place of the newest
        if not rule.keeps_all() and item.when > now + FUTURE_SLACK:
            out.append(Decision(item, False, f"dated in the future ({item.when:%Y-%m-%dT%H:%M:%SZ}: a clock ahead?), not counted"))  # fmt: skip
            continue
        # the newest item the rule governs is kept: a protected one (a run in progress, a
        # champion) does not stand in for it
        newest = item.group not in kept
        count = kept.setdefault(item.group, 0)
        why = _kept_by(rule, item, now, count, newest=newest)
        kept[item.group] += why is not None
        out.append(Decision(item, why is None, why or _gone(rule)))
    return out


def _kept_by(
    rule: KeepRule, item: Item, now: dt.datetime, kept: int, *, newest: bool
) -> str | None:
    if rule.keeps_all():
        return "no rule set"
    if newest:
        return "the newest"
    if rule.keep_last is not None and kept < rule.keep_last:
        return f"within keep_last {rule.keep_last}"
    # in seconds: a timedelta of max_age_days overflows past 999,999,999 days
    age_s = (now - item.when).total_seconds()
    if rule.max_age_days is not None and age_s < rule.max_age_days * 86400.0:
        return f"younger than max_age_days {rule.max_age_days:g}"
    return None


def _gone(rule: KeepRule) -> str:
    parts = []
    if rule.keep_last is not None:
        parts.append(f"beyond keep_last {rule.keep_last}")
    if rule.max_age_days is not None:
        parts.append(f"older than max_age_days {rule.max_age_days:g}")
    return " and ".join(parts)
