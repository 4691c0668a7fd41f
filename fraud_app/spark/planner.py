"""GroupPlanner: the groups the next barrier stage runs (Drizzle-style group scheduling).

A stage runs K groups of G iterations back to back (the last one shorter if
fewer iterations remain). After every stage the planner measures its fixed
cost C (Spark job launch + task set-up + rendezvous: the stage's first group's
wall time minus that group's slowest iteration loop) and the time per
iteration t, and plans the next stage:

    G ("auto"): the smallest G that keeps C under `target` of ONE group, as if
        every group had its own stage:  G >= C * (1 - target) / (target * t).
        So a group lasts ~20 stage launches (at 5 %) wherever the cluster is:
        long enough for a checkpoint and a progress line, short enough to lose
        little work on a failure.
    K ("auto"): the smallest K that keeps C under STAGE_TARGET of the whole
        stage:  K >= C * (1 - STAGE_TARGET) / (STAGE_TARGET * G * t).

The first auto stage uses FIRST_AUTO_GROUP-iteration groups and FIRST_AUTO_STAGE
groups (it is also the measurement), unless the planner starts from a `StageTiming`
that an earlier fit measured on the same cluster (the members of one ensemble: same
model, same batch, same executors), which spares each later fit that extra stage.
Group and stage sizes never change a result (the engine's module doc), only the
overhead. Fixed values are used as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FIRST_AUTO_GROUP = 10
FIRST_AUTO_STAGE = 4
STAGE_TARGET = 0.005  # a stage lasts ~200 of its launches (~20 s here, ~40 s at 200 ms)
MAX_STAGE_GROUPS = 10_000


@dataclass(frozen=True)
class StageTiming:
    """What a planner measured: a stage's fixed cost and the seconds per iteration."""

    stage_cost_s: float
    iter_s: float


class GroupPlanner:
    def __init__(
        self,
        group_size: int | str,
        *,
        target: float = 0.05,
        max_group: int = 2000,
        stage_groups: int | str = "auto",
        prior: StageTiming | None = None,
    ) -> None:
        """prior: an earlier fit's measurement (`timing`) to plan the first stage from."""
        self.fixed = None if group_size == "auto" else int(group_size)
        self.fixed_stage = None if stage_groups == "auto" else int(stage_groups)
        self.target = target
        self.max_group = max_group
        self.stage_cost_s: float | None = None
        self.iter_s: float | None = None
        if prior is not None and prior.iter_s > 0:
            self.stage_cost_s, self.iter_s = max(prior.stage_cost_s, 0.0), prior.iter_s

    @property
    def measured(self) -> bool:
        return self.stage_cost_s is not None and bool(self.iter_s)

    @property
    def timing(self) -> StageTiming | None:
        """The measurement so far (None before the first stage of a planner without prior)."""
        if not self.measured:
            return None
        return StageTiming(float(self.stage_cost_s), float(self.iter_s))

    def next(self, remaining: int) -> int:
        """Iterations of the next group."""
        if self.fixed is not None:
            return max(1, min(self.fixed, remaining))
        if not self.measured:
            return max(1, min(FIRST_AUTO_GROUP, remaining))
        g = math.ceil(self.stage_cost_s * (1 - self.target) / (self.target * self.iter_s))
        return max(1, min(g, self.max_group, remaining))

    def groups_per_stage(self, g: int) -> int:
        """K for groups of `g` iterations."""
        if self.fixed_stage is not None:
            return self.fixed_stage
        if not self.measured:
            return FIRST_AUTO_STAGE
        k = math.ceil(self.stage_cost_s * (1 - STAGE_TARGET) / (STAGE_TARGET * g * self.iter_s))
        return max(1, min(k, MAX_STAGE_GROUPS))

    def plan(self, remaining: int) -> list[int]:
        """Group sizes of the next stage, within `remaining` iterations."""
        g = self.next(remaining)
        k, sizes = self.groups_per_stage(g), []
        while remaining > 0 and len(sizes) < k:
            sizes.append(min(g, remaining))
            remaining -= sizes[-1]
        return sizes

    def observe(self, *, stage_cost_s: float, loop_s: float, iterations: int) -> None:
        """One finished stage: its fixed cost and the sum of its groups' slowest loops."""
        cost = max(stage_cost_s, 0.0)
        per_iter = loop_s / max(iterations, 1)
        # Exponential moving average: later stages refine the first measurement.
        if self.stage_cost_s is None or self.iter_s is None:
            self.stage_cost_s, self.iter_s = cost, per_iter
        else:
            self.stage_cost_s = 0.5 * self.stage_cost_s + 0.5 * cost
            self.iter_s = 0.5 * self.iter_s + 0.5 * per_iter
