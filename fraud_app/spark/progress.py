"""Progress lines while a command's Spark jobs run and nothing else is said.

A step over a long history (an ETL of years of files, `features` of a wide spec, `score` of a
year) runs Spark jobs for minutes with Spark's console bar off (`spark.ui.showConsoleProgress`
false: it garbles the JSON on stdout) and no log line between its first and its last: a
3-year ETL of 40,000 rows said nothing for 2 min 19 s on local[2], a `validate` for 4 min
(session 30, helper probe30a); on a cluster's real data that is an hour without a word.

`start(spark)` (the CLI's `spark_session`) runs one daemon thread per process that polls
Spark's status tracker (driver memory only, no Spark job) and, when jobs have been running
and no log line was written for `FRAUD_APP_PROGRESS_S` seconds (default 60, 0 = off), logs
one INFO line: how long Spark has been busy, the jobs running, and per active stage its
tasks done of all (`spark: busy for 2m 00s (14 jobs so far), job 13 running: stage 57
(parquet at ...): 312/1000 tasks done, 2 running`). Any log line (a step's own, the trainer's per-group line) resets the
clock, so a step that reports its own progress gets none of these.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fraud_app import settings

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


class _LastRecord(logging.Handler):
    """Remembers when the last log record of INFO or above was handled (any logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.at = time.monotonic()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class SparkProgress:
    """The polling thread (module doc). `stop()` ends it; it also ends by itself when the
    SparkContext is stopped."""

    def __init__(self, spark: Any, interval_s: float) -> None:
        self.interval_s = float(interval_s)
        self._sc = spark.sparkContext
        self._stop = threading.Event()
        self._busy_since: float | None = None  # when a poll first saw a job running
        self._jobs_seen: set[int] = set()  # the jobs seen in this busy spell
        self._idle_since: float | None = None  # when a poll first saw none running
        self._last = _LastRecord()
        logging.getLogger().addHandler(self._last)
        self._thread = threading.Thread(target=self._run, name="spark-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        logging.getLogger().removeHandler(self._last)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        poll = max(0.2, min(5.0, self.interval_s / 4))
        while not self._stop.wait(poll):
            try:
                line = self.poll()
            except Exception:  # the context stopped (or the JVM went): nothing to report
                if getattr(self._sc, "_jsc", None) is None:
                    return
                continue
            if line:
                logger.info("%s", line)

    def poll(self, now: float | None = None) -> str | None:
        """The progress line due now (None: none is due). Jobs that follow each other
        (a step's many short jobs: a storm of one job per file was silent for 10 min) are
        one busy spell, from the first poll that saw one running until none has run for
        the interval; the count is of the jobs the polls saw (at most every poll's)."""
        now = time.monotonic() if now is None else now
        tracker = self._sc.statusTracker()
        jobs = sorted(tracker.getActiveJobsIds())
        if not jobs:  # a gap between a step's jobs ends the spell only when it lasts
            if self._idle_since is None:
                self._idle_since = now
            if now - self._idle_since >= self.interval_s:
                self._busy_since, self._jobs_seen = None, set()
            return None
        self._idle_since = None
        if self._busy_since is None:
            self._busy_since = now
        self._jobs_seen.update(jobs)
        busy = now - self._busy_since
        if busy < self.interval_s or now - self._last.at < self.interval_s:
            return None
        stages = []
        for sid in sorted(tracker.getActiveStageIds()):
            info = tracker.getStageInfo(sid)
            if info is None:
                continue
            name = info.name if len(info.name) <= 80 else info.name[:77] + "..."
            stages.append(
                f"stage {sid} ({name}): {info.numCompletedTasks}/{info.numTasks} tasks done, "
                f"{info.numActiveTasks} running"
                + (f", {info.numFailedTasks} failed" if info.numFailedTasks else "")
            )
        shown = "; ".join(stages[:3]) + (f"; {len(stages) - 3} more" if len(stages) > 3 else "")
        n = len(self._jobs_seen)
        return (
            f"spark: busy for {_duration(busy)} ({n} job{'s' if n != 1 else ''} so far), "
            f"job {', '.join(map(str, jobs))} running" + (f": {shown}" if shown else "")
        )


_ACTIVE: SparkProgress | None = None
_LOCK = threading.Lock()


def start(spark: Any, interval_s: float | None = None) -> SparkProgress | None:
    """Start (or retarget) the process's progress thread for `spark`; None when off
    (interval 0). `interval_s`: default FRAUD_APP_PROGRESS_S."""
    global _ACTIVE
    interval = settings.progress_interval_s() if interval_s is None else float(interval_s)
    with _LOCK:
        if _ACTIVE is not None:
            if _ACTIVE._sc is spark.sparkContext and _ACTIVE.interval_s == interval:
                return _ACTIVE
            _ACTIVE.stop()
            _ACTIVE = None
        if interval <= 0:
            return None
        _ACTIVE = SparkProgress(spark, interval)
        return _ACTIVE


def stop() -> None:
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is not None:
            _ACTIVE.stop()
            _ACTIVE = None
