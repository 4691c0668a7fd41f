"""StageJob: one stage's barrier job, run on a background thread of the driver.

Owns: submitting `run_stage` over the training blocks as a barrier job, tagging it
so that it can be cancelled without touching the caller's job group, putting its
end ("done" with the tasks' summaries, or "failed" with a one-line cause) on the
stage's event queue, and bounded waits for it to end; a stage's wait for its task
slots (`SlotWait`); a cancel by anyone but the trainer (the caller's job group) is
final, as a deterministic error is. The thread is a PySpark
InheritableThread, so the job runs in the caller's job group, with its
description and scheduler pool.
"""

from __future__ import annotations

import logging
import re
import time

from pyspark import InheritableThread

from fraud_app.spark.worker import StageTask, run_stage

logger = logging.getLogger(__name__)

# Spark's own refusals of a barrier job (org.apache.spark.scheduler.*): the settings decide.
SLOTS = "BarrierJobSlotsNumberCheckFailed"
DYNAMIC_ALLOCATION = "BarrierJobRunWithDynamicAllocationException"

# A worker's one-line cause, cut here: long enough for a PeerTimeoutError's what, who and
# remedy (a stall inside a collective's shared-memory phase ran to ~330 characters).
CAUSE_CHARS = 500

# The job cancelled by someone else than the trainer: the notebook's cancelJobGroup or
# cancelAllJobs, a job tag of theirs, the UI's kill link.
CANCELLED = "the training's barrier job was cancelled from outside the fit"

# Deterministic mistakes (bad settings, mismatched shapes): the same stage would fail again;
# a cancelled job: whoever cancelled it wants the fit to stop.
NOT_RETRIED = ("ConfigError", "ShapeError", DYNAMIC_ALLOCATION, CANCELLED)

# A stage none of whose tasks Spark ran by stage_start_timeout_s: other jobs held the slots
# (tasks Spark runs that have not reached the driver yet are still setting up: retried).
NOT_STARTED = "no task of the barrier stage started"
SLOT_NOTE_S = 30.0  # the first WARNING of a stage waiting for slots (or half the deadline)
SLOT_NOTE_EVERY_S = 120.0  # and the next ones


def retry_cannot_fix(cause: str, progressed: bool, first_failure: bool = False) -> bool:
    """Whether a failed stage is final. Too few slots before any stage of this fit ran: the
    cluster is smaller than num_workers, and Spark has already waited for slots
    (spark.scheduler.barrier.maxConcurrentTasksCheck.*, ~2 minutes), as each retry would
    again. The fit's first stage, none of whose tasks started within stage_start_timeout_s
    (other jobs held the slots: a notebook's cell on another thread): each retry waited
    that long again, 4 x 600 s by default before the error. After progress a lost
    executor may come back (a frozen host), and after another failure the retry waits
    for Spark to free the failed tasks' slots: retried."""
    if any(marker in cause for marker in NOT_RETRIED) or (SLOTS in cause and not progressed):
        return True
    return NOT_STARTED in cause and not progressed and first_failure


class SlotWait:
    """A barrier stage's wait for its tasks to start. Spark starts a barrier stage only
    when all its task slots are free at once, and until then says nothing (a notebook
    whose other job held a slot saw its fit sit silent for stage_start_timeout_s, 600 s):
    a WARNING after SLOT_NOTE_S (or half the deadline), then every SLOT_NOTE_EVERY_S,
    names what is missing and how long the stage still waits; `overdue` is the failure."""

    def __init__(self, sc, world: int, timeout_s: float, job_tag: str) -> None:
        self.sc, self.world, self.timeout_s, self.job_tag = sc, world, timeout_s, job_tag
        self.t0 = time.monotonic()
        self.note_at = self.t0 + min(SLOT_NOTE_S, timeout_s / 2)

    def overdue(self, started: set[int]) -> str | None:
        """The stage's failure once stage_start_timeout_s passed with ranks not started;
        None while it may wait (a WARNING now and then)."""
        if len(started) >= self.world:
            return None
        now = time.monotonic()
        if now - self.t0 > self.timeout_s:
            missing = sorted(set(range(self.world)) - started)
            running = 0 if started else tasks_running(self.sc, self.job_tag)
            if running:  # launched, but still setting up: not a slot problem, retried
                return (
                    f"rank(s) {missing} of the stage did not reach the driver within "
                    f"stage_start_timeout_s={self.timeout_s:g} s although Spark runs "
                    f"{running} of its {self.world} barrier tasks: their set-up (a Python "
                    f"worker's start, the partition's rows read and encoded) took longer. "
                    f"Raise training.distributed.stage_start_timeout_s"
                )
            none = f"{NOT_STARTED}; {busy_slots(self.sc)}: " if not started else ""
            return (
                f"rank(s) {missing} of the stage did not start within stage_start_timeout_s="
                f"{self.timeout_s:g} s ({none}not enough free task slots for {self.world} "
                f"barrier tasks, or their executors are stuck). Wait for the other jobs (a "
                f"notebook's cells running on other threads) to end, or give the application "
                f"more task slots"
            )
        if now > self.note_at:
            self.note_at = now + SLOT_NOTE_EVERY_S
            logger.warning(
                "stage %s: %d of %d barrier tasks started after %.0f s; Spark starts a "
                "barrier stage only when %d task slots are free at once (%s). Waiting up to "
                "stage_start_timeout_s=%g s (training.distributed.stage_start_timeout_s)",
                self.job_tag, len(started), self.world, now - self.t0, self.world,
                busy_slots(self.sc), self.timeout_s,
            )  # fmt: skip
        return None


def tasks_running(sc, job_tag: str) -> int:
    """How many tasks of the jobs tagged `job_tag` Spark runs now (0 when unknown). A
    barrier task reaches the driver only after reading and encoding its partition."""
    try:
        tracker = sc._jsc.sc().statusTracker()
        running = 0
        for job_id in tracker.getJobIdsForTag(job_tag):
            job = sc.statusTracker().getJobInfo(job_id)
            for stage_id in job.stageIds if job is not None else ():
                stage = sc.statusTracker().getStageInfo(stage_id)
                running += stage.numActiveTasks if stage is not None else 0
        return running
    except Exception:  # a message must not fail on a Py4J call
        return 0


def busy_slots(sc) -> str:
    """How many of the application's task slots are running tasks now, in words."""
    try:
        tracker = sc.statusTracker()
        stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        running = sum(info.numActiveTasks for info in stages if info is not None)
        return f"{running} of the application's {_free_slots(sc)} task slots are running tasks"
    except Exception:  # a message must not fail on a Py4J call
        return "the task slots in use could not be read"


class StageJob:
    """The barrier job of one stage, run in a background thread; its end goes on `events`."""

    def __init__(self, sc, blocks, task: StageTask, events, job_tag: str) -> None:
        self.sc, self.blocks, self.task, self.events = sc, blocks, task, events
        self.job_tag = job_tag
        self.failure: str | None = None
        # InheritableThread: the job keeps the caller's job group, description and
        # scheduler pool (a tag, unlike a job group of our own, does not replace them).
        self.thread = InheritableThread(target=self._run, name=job_tag, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        task = self.task
        self.sc.addJobTag(self.job_tag)
        try:
            results = (
                self.blocks.barrier().mapPartitions(lambda it: [run_stage(task, it)]).collect()
            )
            self.events.put(("done", results))
        except Exception as exc:
            text = str(exc)
            self.failure = (
                _spark_refusal(text, self.sc, self.blocks)
                or _cancelled(text, self.job_tag)
                or _in_rank(_root_cause(exc), text)
            )
            self.events.put(("failed", self.failure))
        finally:
            self.sc.removeJobTag(self.job_tag)

    def wait(self, timeout: float) -> None:
        """Wait for a stage whose groups are all committed to end; cancel it after `timeout`."""
        self.thread.join(timeout=timeout)
        if self.thread.is_alive():
            logger.warning("stage %s still running %.0f s after its last report; cancelling it",
                           self.job_tag, timeout)  # fmt: skip
            self.cancel()

    def cancel(self, wait: bool = True) -> None:
        """Cancel the job if it still runs; with `wait`, wait (bounded) for its thread."""
        if self.thread.is_alive():
            self.sc.cancelJobsWithTag(self.job_tag)
        if not wait:
            return
        self.thread.join(timeout=60.0)
        if self.thread.is_alive():
            logger.warning("Spark jobs tagged %s did not stop within 60 s of cancel", self.job_tag)


def _spark_refusal(text: str, sc, blocks) -> str | None:
    """One line naming the setting when Spark refused to start the barrier job; its own
    message ("An error occurred while calling ...collectAndServe" and SPARK-24819 text)
    names neither the number of tasks nor the slots."""
    if SLOTS in text:
        tasks = _count(blocks.getNumPartitions, "one slot per worker, i.e. num_workers")
        slots = _count(lambda: _free_slots(sc), "fewer")
        return (
            f"{SLOTS}: the barrier stage needs {tasks} task slots at once (one per worker: "
            f"training.distributed.num_workers, numWorkers of the fraud_app.ml estimators) "
            f"and Spark master {sc.master} offers {slots} "
            f"(after waiting spark.scheduler.barrier.maxConcurrentTasksCheck.interval x "
            f".maxFailures). Lower num_workers to at most the slots, or give the application "
            f"more executors / cores (spark.executor.instances, spark.executor.cores; "
            f"spark.task.cpus per task)"
        )
    if DYNAMIC_ALLOCATION in text:
        return (
            f"{DYNAMIC_ALLOCATION}: Spark does not run barrier stages with dynamic "
            f"allocation; set spark.dynamicAllocation.enabled=false (spark.conf in the config "
            f"file, or --conf with spark-submit)"
        )
    return None


def _cancelled(text: str, own_tag: str) -> str | None:
    """One line when Spark cancelled the job for someone else than the trainer (its own
    cancels name its job tag). The notebook's `sc.cancelJobGroup(group)` during a fit (the
    fit's jobs run in the caller's job group) was taken for a failure: the stage was
    retried in the same group, and the fit went on to its end as if nothing was asked."""
    found = re.search(r"\[SPARK_JOB_CANCELLED\] (Job \d+ cancelled .*?)(?: SQLSTATE|$)", text, re.M)
    if found is None or own_tag in found.group(1):
        return None
    return f"{CANCELLED} ({found.group(1)}); it is not retried"


def _count(read, unknown: str) -> str:
    try:
        return str(int(read()))
    except Exception:  # the error message must not fail on a second Py4J call
        return unknown


def _free_slots(sc) -> int:
    """The task slots Spark's barrier check counts (all executors, default resources)."""
    jsc = sc._jsc.sc()
    return jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile())


# Spark's abort of a barrier stage names the task that failed it: ResultTask(stage, partition)
_BARRIER_TASK = re.compile(r"barrier task \w*Task\(\d+, (\d+)\) finished unsuccessfully")


def _in_rank(cause: str, text: str) -> str:
    """`cause` naming the rank whose task failed the barrier stage (its partition is its
    rank): a killed or crashed worker's cause ("Python worker exited unexpectedly
    (crashed)") named none, so giving up after max_retries did not say which rank died."""
    found = _BARRIER_TASK.search(text)
    return f"{cause} (in rank {found[1]}'s task)" if found else cause


def _root_cause(exc: BaseException) -> str:
    """A one-line cause from a (possibly Py4J-wrapped) Spark failure: for an exception class,
    the line that raises it (`dlcore.errors.ConfigError: <message>`), not a source line of
    the worker's traceback that names it (`raise ConfigError(`)."""
    text = str(exc)
    lines = text.splitlines()
    for marker in (
        *NOT_RETRIED,
        "CommunicationError",
        "PeerTimeoutError",
        "AuthenticationError",
        "TrainingError",
        "Python worker exited unexpectedly",
        "crashed",
        "killed",
    ):
        found = [line.strip() for line in lines if marker in line]
        raised = [line for line in found if re.match(rf"[\w.]*{re.escape(marker)}: ", line)]
        if raised or found:
            return (raised or found)[0][:CAUSE_CHARS]
    return (lines or [type(exc).__name__])[0][:CAUSE_CHARS]
