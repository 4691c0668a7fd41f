"""Training data behind the plots: where each group's wall time went, epochs, time line.

Input: one member of the training report (C6): `rows`, `retries`, optional `failures`
(lines "round R (group G): cause"), `history` (one entry per group from the grouped
engine: wall_s, compute_share, sync_share, scheduling_share, samples_per_s, loss,
stage_start, start/end_iteration) and optional `validation` records.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

_FAILURE = re.compile(r"group (\d+)\)")


@dataclass(frozen=True)
class GroupTime:
    """One group's wall time split into parts that add up to wall_s (seconds)."""

    group: int
    start_s: float  # since the member's first group started (sum of earlier walls)
    wall_s: float
    compute_s: float
    allreduce_s: float
    scheduling_s: float
    other_s: float  # the rest of the loop: data, optimizer step, reporting
    samples_per_s: float | None
    stage_start: bool
    # False: the group has no split (the per-iteration engine writes its shares null):
    # its wall time is all in other_s, and no share of it is known
    split: bool = True


def group_times(history: list[dict[str, Any]]) -> list[GroupTime]:
    """Split each group's wall time: compute, all-reduce (sync) and scheduling are the
    recorded shares; `other` is what is left, so the four stack to the wall time."""
    out, clock = [], 0.0
    for i, h in enumerate(history):
        wall = max(float(h.get("wall_s") or 0.0), 0.0)
        shares = [_share(h.get(k)) for k in ("compute_share", "sync_share", "scheduling_share")]
        split = None not in shares
        parts = [max(v, 0.0) * wall if split else 0.0 for v in shares]
        total = sum(parts)
        if total > wall > 0:  # rounding in the engine: scale to the wall time
            parts = [p * wall / total for p in parts]
        out.append(
            GroupTime(
                group=int(h.get("group", i)),
                start_s=clock,
                wall_s=wall,
                compute_s=parts[0],
                allreduce_s=parts[1],
                scheduling_s=parts[2],
                other_s=max(wall - sum(parts), 0.0),
                samples_per_s=h.get("samples_per_s"),
                stage_start=bool(h.get("stage_start")),
                split=split,
            )
        )
        clock += wall
    return out


def _share(value) -> float | None:
    """A recorded share, or None where the report has none (null, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def time_split_shares(history: list[dict[str, Any]]) -> dict[str, float] | None:
    """Shares of the member's total wall time per part (sum 1); None without time, or
    when a group has no split (null shares read 0 %: compute, all-reduce and scheduling
    0.0 % of a per-iteration engine's run, the whole wall time "other")."""
    groups = group_times(history)
    wall = sum(g.wall_s for g in groups)
    if wall <= 0 or not all(g.split for g in groups):
        return None
    parts = ("compute_s", "allreduce_s", "scheduling_s", "other_s")
    return {p[:-2]: sum(getattr(g, p) for g in groups) / wall for p in parts}


def epoch_ends(history: list[dict[str, Any]], rows: int | None) -> list[float | None]:
    """Epochs completed at the end of each group: samples seen / rows of the subset.
    Samples of a group = samples_per_s * wall_s. None when rows is unknown or zero."""
    if not rows:
        return [None] * len(history)
    seen, out = 0.0, []
    for h in history:
        seen += float(h.get("samples_per_s") or 0.0) * float(h.get("wall_s") or 0.0)
        out.append(seen / rows)
    return out


def failed_groups(member: dict[str, Any]) -> list[int]:
    """Groups at which a stage failed and training resumed (from `failures`)."""
    return [int(m.group(1)) for f in member.get("failures") or [] if (m := _FAILURE.search(f))]


def validation_points(member: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(epoch, validation average precision) from the member's early-stopping records,
    the epoch on the loss chart's scale (`member_x`: passes over the member's rows, as the
    config's `epochs` counts them) at the record's iteration. The record's own `epoch` is
    iteration / ceil(rows / batch): on the demo run iteration 27 was 3.0 there and 3.325
    on the loss chart beside it (the last evaluation of a 5-epoch run read 4.56); it is
    kept where the history cannot place the iteration."""
    recs = [
        r
        for r in member.get("validation") or []
        if r.get("average_precision") is not None and r.get("epoch") is not None
    ]
    at = _passes_at(member)
    x = [
        at(r["iteration"]) if at and isinstance(r.get("iteration"), int | float) else None
        for r in recs
    ]
    return (
        [float(r["epoch"]) if v is None else v for r, v in zip(recs, x, strict=True)],
        [float(r["average_precision"]) for r in recs],
    )


def _passes_at(member: dict[str, Any]):
    """iteration -> passes over the member's rows, from its history (samples seen at each
    group's end_iteration); None where the history does not say."""
    hist = member.get("history") or []
    ends = [h.get("end_iteration") for h in hist]
    passes = epoch_ends(hist, member.get("rows"))
    if not hist or any(not isinstance(e, int | float) for e in ends) or None in passes:
        return None
    xs, ys = [0.0, *map(float, ends)], [0.0, *passes]
    if any(b <= a for a, b in itertools.pairwise(xs)):  # not one run of increasing iterations
        return None

    def at(iteration: float) -> float | None:
        return float(np.interp(iteration, xs, ys)) if 0 <= iteration <= xs[-1] else None

    return at


def member_x(member: dict[str, Any]) -> tuple[list, str]:
    """The x of each group of a member's history, and its unit: epochs completed when the
    subset's rows are known, else the group's last iteration."""
    hist = member.get("history") or []
    epochs = epoch_ends(hist, member.get("rows"))
    if hist and all(e is not None for e in epochs):
        return epochs, "epoch"
    return [h.get("end_iteration", i) for i, h in enumerate(hist)], "iteration"
