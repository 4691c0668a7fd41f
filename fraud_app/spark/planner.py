"""GroupPlanner: how many iterations the next barrier stage runs (Drizzle-style group scheduling).

A fixed G, or "auto": after each group the planner measures the fixed cost of
a stage (launch + task set-up + rendezvous = driver wall time minus the
slowest task's iteration loop) and the time per iteration, and picks the
smallest G that keeps the fixed cost under the target share of the group:
    overhead / (overhead + G * t_iter) <= target  =>  G >= overhead * (1 - target) / (target * t_iter)
The first auto group is short (it is also the measurement).
"""

from __future__ import annotations

import math

FIRST_AUTO_GROUP = 10


class GroupPlanner:
    def __init__(
        self, group_size: int | str, *, target: float = 0.05, max_group: int = 2000
    ) -> None:
        self.fixed = None if group_size == "auto" else int(group_size)
        self.target = target
        self.max_group = max_group
        self.overhead_s: float | None = None
        self.iter_s: float | None = None

    def next(self, remaining: int) -> int:
        if self.fixed is not None:
            return max(1, min(self.fixed, remaining))
        if self.overhead_s is None or not self.iter_s:
            return max(1, min(FIRST_AUTO_GROUP, remaining))
        g = math.ceil(self.overhead_s * (1 - self.target) / (self.target * self.iter_s))
        return max(1, min(g, self.max_group, remaining))

    def observe(self, *, wall_s: float, loop_s: float, iterations: int) -> None:
        overhead = max(wall_s - loop_s, 0.0)
        per_iter = loop_s / max(iterations, 1)
        # Exponential moving average: later groups refine the first measurement.
        if self.overhead_s is None:
            self.overhead_s, self.iter_s = overhead, per_iter
        else:
            self.overhead_s = 0.5 * self.overhead_s + 0.5 * overhead
            self.iter_s = 0.5 * self.iter_s + 0.5 * per_iter
