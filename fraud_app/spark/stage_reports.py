"""What the driver knows of a running stage while it collects the ranks' group reports.

Owns: the reports waiting for the rest of their group, the count of groups committed,
which ranks' report connections are open, the stage's first failure and the drain that
follows it (`StageReports`), and `StageFailed`. Does not own: committing a group (the
checkpoint, history, early stopping: `GroupedEngine._commit_complete` in `grouped.py`),
nor the boundary server that produces the events (`boundary.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fraud_app.spark.boundary import Report
from fraud_app.spark.stage_job import StageJob


class StageFailed(Exception):
    """A stage ended before all its groups were committed; `cause` is one line."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class StageReports:
    """What the driver knows of a running stage: the reports waiting for the rest of their
    group, the groups committed, which ranks' report connections are (and ever were) open,
    the first failure, and until when to read the reports still in flight after it."""

    world: int
    groups: int
    report_timeout: float  # after the tasks returned: how long the last reports may take
    drain_s: float  # after a failure: how long to wait for the reports in flight
    t_last: float  # the last commit (or the stage's start)
    committed: int = 0
    loops: float = 0.0
    stage_cost: float = 0.0
    pending: dict[int, dict[int, Report]] = field(default_factory=dict)
    connected: set[int] = field(default_factory=set)
    ever_connected: set[int] = field(default_factory=set)
    failure: str | None = None
    drain_until: float | None = None

    def drained(self) -> bool:
        """After a failure: every report in flight has arrived, or the wait is over."""
        return self.drain_until is not None and (
            not self.connected or time.monotonic() > self.drain_until
        )

    def start_overdue(self, start_by: float) -> bool:
        """Before any failure: some rank never connected, and the stage's start deadline
        has passed."""
        return (
            self.drain_until is None
            and len(self.ever_connected) < self.world
            and time.monotonic() > start_by
        )

    def add(self, report: Report, start_group: int) -> None:
        index = report.group - start_group
        if not 0 <= index < self.groups:
            raise StageFailed(
                f"rank {report.rank} reported group {report.group}, outside this stage"
            )
        self.pending.setdefault(index, {})[report.rank] = report

    def not_started(self, timeout_s: float, job: StageJob) -> None:
        missing = sorted(set(range(self.world)) - self.ever_connected)
        self.failure = (
            f"rank(s) {missing} of the stage did not start within stage_start_timeout_s="
            f"{timeout_s:g} s: not enough free task slots for "
            f"{self.world} barrier tasks, or their executors are stuck"
        )
        job.cancel(wait=False)
        self.drain_until = time.monotonic() + self.drain_s

    def on_event(self, kind: str, payload: Any, job: StageJob) -> None:
        """A boundary server event other than a report (see BoundaryServer)."""
        if kind == "connected":
            self.connected.add(payload)
            self.ever_connected.add(payload)
        elif kind == "closed":
            self.connected.discard(payload)
        elif kind == "error":  # (rank, message): that rank's reader gave up
            self.connected.discard(payload[0])
            self.failure = self.failure or payload[1]
            job.cancel(wait=False)  # a reader error does not end the Spark job by itself
            self.drain_until = self.drain_until or time.monotonic() + self.drain_s
        elif kind == "failed":
            self.failure = self.failure or payload
            self.drain_until = self.drain_until or time.monotonic() + self.drain_s
        elif kind == "done" and self.committed < self.groups:
            # Every task returned, so every report is sent: the rest are on their way
            # (queued behind a driver busy writing checkpoints). Read them until the
            # readers close (each bounded by its report deadline); after drain_s alone
            # a loaded driver failed a finished stage and trained its groups again.
            self.failure = (
                self.failure or "the stage finished but not every rank reported every group"
            )
            self.drain_until = max(self.drain_until or 0.0, time.monotonic() + self.report_timeout)
