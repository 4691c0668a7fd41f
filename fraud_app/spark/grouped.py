"""GroupedEngine: groups of iterations scheduled at once, peer-to-peer sync, recovery at group boundaries.

Drizzle-style group scheduling on Spark. A GROUP is G iterations: the unit of
progress, metrics, checkpointing and recovery. A STAGE is one barrier job that
runs `stage_groups` groups back to back, so Spark's job launch, the task set-up
and the rendezvous are paid once per stage, not once per group.

Per stage the driver: plans the group sizes, broadcasts the last committed state
(fetched by a task only when its worker process did not keep it), opens a round
on its boundary server and launches the barrier job in a background thread. The
tasks rendezvous, train, and at every group boundary send their state to the
boundary server; the driver commits a group as soon as every rank reported it
(history entry, progress line, checkpoint) while the workers already train the
next one. A failed stage (killed task, crashed worker, peer timeout: Spark
aborts the whole barrier job, it does not retry it) keeps every group committed
before the failure and is retried from the last one with a fresh rendezvous
round, up to `max_retries` times without progress.

Reading a group's reports into its history entry and the next state (and the state
a stage starts from) is fraud_app.spark.group_reports'.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from typing import Any

from dlcore.backends import get_ops
from dlcore.collective import CommConfig, RendezvousServer, new_job_secret
from fraud_app.errors import TrainingError
from fraud_app.spark.boundary import BoundaryServer, Report
from fraud_app.spark.checkpoint import CheckpointStore, TrainingState
from fraud_app.spark.checkpoint_lock import checkpoint_lock
from fraud_app.spark.engine_base import Engine, TrainingResult, check_finite, log_progress
from fraud_app.spark.group_reports import StageFailed as StageFailed
from fraud_app.spark.group_reports import (
    group_entry,
    rank0_weights,
    reported_state,
    stage_payload,
)
from fraud_app.spark.group_reports import group_timing as group_timing
from fraud_app.spark.planner import GroupPlanner
from fraud_app.spark.stage_job import CANCELLED, SlotWait, StageJob, retry_cannot_fix
from fraud_app.spark.worker import StageTask

logger = logging.getLogger(__name__)

DRAIN_S = 10.0  # after a stage fails: how long to wait for reports already in flight
CHECKPOINT_LOCK = ".training.lock"  # in the checkpoint directory, while a run uses it
RETRY_BACKOFF_S = 0.5  # pause before retry n without progress: 0.5 s * 2**(n-1), at most 8 s


class GroupedEngine(Engine):
    def run(self, blocks, rows: int) -> TrainingResult:
        cfg = self.config
        self.total = cfg.total_iterations(rows)
        self.store = None
        lock: contextlib.AbstractContextManager = contextlib.nullcontext()
        if cfg.checkpoint_dir:
            setup = self.setup(rows)
            fingerprint = self.fingerprint(rows, setup)
            directory = cfg.checkpoint_dir
            if cfg.checkpoint_per_setup:
                directory = f"{directory.rstrip('/')}/setup-{fingerprint}"
            self.store = CheckpointStore(directory, fingerprint=fingerprint, setup=setup)
            # one run per checkpoint directory, taken before any group trains: a second
            # process deleted the first one's groups as it pruned and saved over them; a
            # directory that cannot be written failed only after the first group trained
            # and one fit among the threads of this process (RootLock is re-entrant)
            lock = checkpoint_lock(directory, CHECKPOINT_LOCK)
        with lock:
            return self._run_locked(blocks, rows)

    def _run_locked(self, blocks, rows: int) -> TrainingResult:
        cfg = self.config
        loaded = self.store.load(self.optimizer) if self.store else None
        self.state = loaded[0] if loaded else self.initial_state()
        if loaded:
            self._resume(self.state)
        self.planner = GroupPlanner(
            cfg.group_size,
            target=cfg.auto_overhead_target,
            max_group=cfg.max_group_size,
            stage_groups=cfg.stage_groups,
            prior=self.stage_timing,
        )
        # The driver's DLCORE_TRANSPORT / DLCORE_TOPOLOGY / DLCORE_SHM_SIGNAL (or the config's
        # topology) is the run's choice, as the backend is: executors on other hosts never
        # see the driver's environment, and a bad value failed only inside the first
        # stage's tasks.
        comm = CommConfig(topology=cfg.topology)
        self.transport, self.topology = comm.requested_transport(), comm.requested_topology()
        self.shm_signal = comm.requested_shm_signal()
        self.secret = new_job_secret()
        self._finishing: tuple[StageJob, Any] | None = None  # a stage whose tasks are returning
        self._t_commit: float | None = None  # last group commit, if no failure since
        self._state_round = -1  # the round whose reports made self.state (-1: none)
        failures: list[str] = []
        try:
            retries = self._run_stages(blocks, failures)
        finally:
            self._retire_previous()  # also when interrupted between two stages
        result = self.finish(self.state, rows, retries, failures)
        result.stage_timing = self.planner.timing
        return result

    def _resume(self, state: TrainingState) -> None:
        """Continue from a loaded checkpoint: its early stopper's state comes back with it
        (best weights, records, patience), and a checkpoint past this run's last iteration
        is refused (it returned a model trained longer than asked, without a word)."""
        if state.iteration > self.total:
            raise TrainingError(
                f"the checkpoint in {self.store.dir} is at iteration {state.iteration}, past "
                f"this run's {self.total} iterations (training epochs or iterations were "
                "lowered since it was written); resuming would return a model trained longer "
                "than asked. Set them back, or use a new checkpoint directory or delete this "
                "one to start over"
            )
        if self.stopper is not None:
            if state.stopper is None:  # the setup holds the stopper's: not from this code
                raise TrainingError(
                    f"checkpoint group {state.group} in {self.store.dir} has no early-stopping "
                    "state, which this run (with a validation set) needs; use a new checkpoint "
                    "directory or delete this one to start over"
                )
            self.stopper.restore_state(*state.stopper)
        logger.info(
            "resuming from the checkpoint of group %d at iteration %d%s",
            state.group, state.iteration,
            " (early stopping had stopped the run there)" if self.stopped() else "",
        )  # fmt: skip

    def _run_stages(self, blocks, failures: list[str]) -> int:
        """Stages until every iteration is committed; returns the number of retries."""
        cfg = self.config
        conf = self.sc.getConf()
        advertise = conf.get("spark.driver.host", "127.0.0.1")
        bind = conf.get("spark.driver.bindAddress", advertise)  # differs behind NAT / in containers
        retries, round_id, attempt = 0, 0, 0
        first_cause = ""  # the first failure of the current run of failures without progress
        progressed = False  # a group committed in this fit (then lost slots may come back)
        with (
            RendezvousServer(
                self.secret, cfg.num_workers, host=bind, advertise_host=advertise
            ) as rdv,
            BoundaryServer(
                self.secret, cfg.num_workers, host=bind, advertise_host=advertise
            ) as bsrv,
        ):
            while self.state.iteration < self.total and not self.stopped():
                plan = self.planner.plan(self.total - self.state.iteration)
                if self.stopper is not None:  # evaluation points become group boundaries
                    plan = self.stopper.cut(plan, self.state.iteration)
                    # a stage that may stop ends at that evaluation: no cancel on a stop
                    plan = self.stopper.until_possible_stop(
                        plan, self.state.iteration, self.state.group
                    )
                round_id += 1
                before = self.state.group
                try:
                    self._run_stage(blocks, plan, round_id, rdv.address, bsrv, attempt)
                    attempt, progressed = 0, True
                    continue
                except StageFailed as exc:
                    cause = unregistered(exc.cause, rdv.registered(round_id), round_id, cfg)
                    failures.append(f"round {round_id} (group {self.state.group}): {cause}")
                retries += 1
                attempt = 1 if self.state.group > before else attempt + 1
                progressed = progressed or self.state.group > before
                first_cause = cause if attempt == 1 else first_cause
                if retry_cannot_fix(cause, progressed, first_failure=len(failures) == 1):
                    raise TrainingError(
                        f"group {self.state.group} failed with an error a retry cannot fix: {cause}"
                    )
                if attempt > cfg.max_retries:
                    raise TrainingError(
                        f"group {self.state.group} (from iteration {self.state.iteration}) failed "
                        f"{attempt} times in a row; giving up after max_retries={cfg.max_retries}. "
                        f"Last cause: {cause}"
                        # The first failure names the rank that broke the stage; later ones
                        # may only say that the retry could not start (slots still held).
                        + (f". First cause: {first_cause}" if first_cause != cause else "")
                    )
                pause = min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 8.0)
                logger.warning(
                    "stage failed (%s); retrying from group %d, iteration %d in %.1f s "
                    "(attempt %d/%d)",
                    cause, self.state.group, self.state.iteration, pause, attempt, cfg.max_retries,
                )  # fmt: skip
                time.sleep(pause)  # back off: a busy or flooded driver gets room to recover
        return retries

    # -- one stage ------------------------------------------------------------------------
    def _run_stage(self, blocks, plan: list[int], round_id: int, rdv_address, bsrv, attempt: int):
        cfg, start = self.config, self.state
        last = start.iteration + sum(plan)
        fault = None
        if self.fault and attempt == 0 and start.iteration <= self.fault.iteration < last:
            fault = (self.fault.rank, self.fault.iteration)
        bc = self.sc.broadcast(stage_payload(start))
        task = StageTask(
            run_id=self.run_id,
            round_id=round_id,
            start_group=start.group,
            start_iteration=start.iteration,
            state_round=self._state_round,
            group_sizes=tuple(plan),
            world_size=cfg.num_workers,
            rendezvous_address=tuple(rdv_address),
            boundary_address=tuple(bsrv.address),
            secret=self.secret,
            model_config=self.model_config,
            loss_config=self.loss_config,
            optimizer_config=self.optimizer_config,
            local_batch_size=cfg.local_batch_size,
            global_batch_size=cfg.global_batch_size,
            seed=cfg.seed,
            shuffle=cfg.shuffle,
            compression=cfg.compression,
            connect_timeout_s=cfg.connect_timeout_s,
            op_timeout_s=cfg.op_timeout_s,
            state_broadcast=bc,
            fault=fault,
            topology=self.topology,
            ring_interface=cfg.ring_interface,
            transport=self.transport,
            shm_signal=self.shm_signal,
            backend=get_ops().name,
            mixup_alpha=cfg.mixup_alpha,
            encoded_rows_max_bytes=cfg.encoded_rows_max_bytes,
        )
        events = bsrv.open_round(round_id, self._report_timeout(plan))
        job = StageJob(self.sc, blocks, task, events, f"fraud_app-train-{self.run_id}-{round_id}")
        # Pipelined: this stage is submitted while the previous one's tasks are still
        # returning, so Spark launches it the moment their slots free up. Its first
        # group's wall time runs from the previous commit, so that gap is counted.
        t0 = self._t_commit if self._t_commit is not None else time.perf_counter()
        job.start()
        try:
            self._retire_previous(stop_if_cancelled=True)
            complete = self._collect(task, plan, events, bsrv, job, t0)
        except BaseException:
            self._t_commit = None
            job.cancel()
            bsrv.close_round()
            bc.destroy()
            raise
        if not complete:  # early stopping inside the stage: drop the work past the boundary
            job.cancel()
            bsrv.close_round()
            bc.destroy()
            return
        self._finishing = (job, bc)  # also after a stop at its last group: tasks return

    def _report_timeout(self, plan: list[int]) -> float:
        """How long a report may take: a whole group, every iteration bounded by op_timeout."""
        cfg = self.config
        return cfg.connect_timeout_s + (max(plan) + 1) * cfg.op_timeout_s

    def _retire_previous(self, stop_if_cancelled: bool = False) -> None:
        """Wait for the previous stage's tasks to return (all its groups are committed).
        stop_if_cancelled (another stage follows): a job cancelled from outside the fit
        (the caller's cancelJobGroup as the stage ended) stops the fit there."""
        if self._finishing is None:
            return
        job, bc = self._finishing
        self._finishing = None
        cfg = self.config
        try:
            job.wait(cfg.connect_timeout_s + cfg.op_timeout_s)
        except BaseException:  # interrupted while waiting: its tasks stop, then the file goes
            job.cancel()
            bc.destroy()
            raise
        bc.destroy()
        if stop_if_cancelled and job.failure and CANCELLED in job.failure:
            raise TrainingError(f"group {self.state.group}: {job.failure}")
        if job.failure:
            logger.warning(
                "stage %s failed after all its groups were committed: %s",
                job.job_tag,
                job.failure,
            )

    def _collect(
        self, task: StageTask, plan: list[int], events, bsrv, job: StageJob, t0: float
    ) -> bool:
        """Commit groups as their reports complete, until the plan is done (True), early
        stopping ends the run before its last group (False) or the stage fails (raises)."""
        world = self.config.num_workers
        pending: dict[int, dict[int, Report]] = {}
        committed, t_last, loops, stage_cost = 0, t0, 0.0, 0.0
        connected: set[int] = set()
        ever_connected: set[int] = set()
        failure: str | None = None
        drain_until: float | None = None
        slots = SlotWait(self.sc, world, self.config.stage_start_timeout_s, job.job_tag)
        while committed < len(plan):
            if drain_until is not None and (not connected or time.monotonic() > drain_until):
                break  # every report still in flight has arrived, or the wait is over
            if drain_until is None and (overdue := slots.overdue(ever_connected)):
                failure = overdue
                job.cancel(wait=False)
                drain_until = time.monotonic() + DRAIN_S
                continue
            try:
                kind, payload = events.get(timeout=1.0)
            except queue.Empty:
                continue
            if kind == "report":
                bsrv.report_consumed()
                index = payload.group - task.start_group
                if not 0 <= index < len(plan):
                    failure = (
                        f"rank {payload.rank} reported group {payload.group}, outside this stage"
                    )
                    break
                pending.setdefault(index, {})[payload.rank] = payload
                while len(pending.get(committed, ())) == world:
                    by_rank = pending.pop(committed)
                    # The group ended when its last report arrived (not when this thread,
                    # perhaps busy writing the previous checkpoint, got to it).
                    now = max(r.received for r in by_rank.values())
                    reports = [by_rank[r] for r in range(world)]
                    loop = max(r.meta["loop_s"] for r in reports)
                    if committed == 0:
                        stage_cost = now - t_last - loop  # launch + set-up + rendezvous
                    loops += loop
                    self._commit(reports, plan[committed], now - t_last)
                    committed, t_last = committed + 1, now
                    self._t_commit, self._state_round = now, task.round_id
                    if self.stopped():
                        return committed == len(plan)
            elif kind == "connected":
                connected.add(payload)
                ever_connected.add(payload)
            elif kind == "closed":
                connected.discard(payload)
            elif kind == "error":  # (rank, message): that rank's reader gave up
                connected.discard(payload[0])
                failure = failure or payload[1]
                job.cancel(wait=False)  # a reader error does not end the Spark job by itself
                drain_until = drain_until or time.monotonic() + DRAIN_S
            elif kind == "failed":
                failure = failure or payload
                drain_until = drain_until or time.monotonic() + DRAIN_S
            elif kind == "done" and committed < len(plan):
                # Every task returned, so every report is sent: the rest are on their way
                # (queued behind a driver busy writing checkpoints). Read them until the
                # readers close (each bounded by its report deadline); after DRAIN_S alone
                # a loaded driver failed a finished stage and trained its groups again.
                failure = failure or "the stage finished but not every rank reported every group"
                drain_until = max(drain_until or 0.0, time.monotonic() + self._report_timeout(plan))
        if committed < len(plan):
            raise StageFailed(failure or "the stage ended early")
        self.planner.observe(stage_cost_s=stage_cost, loop_s=loops, iterations=sum(plan))
        return True

    def _commit(self, reports: list[Report], g: int, wall: float) -> None:
        """A group whose every rank reported: checked, evaluated, logged, made the state
        (and checkpointed); fraud_app.spark.group_reports reads the reports."""
        entry = group_entry(self.state, reports, g, wall)
        params, layer_state = rank0_weights(reports)
        # the ranks' reports name the first bad iteration (their losses' among them)
        check_finite(
            entry, {"params": params, **layer_state},
            metas=[r.meta for r in reports], compression=self.config.compression,
        )  # fmt: skip
        self.maybe_evaluate(entry, params, layer_state)
        log_progress(entry, self.total)
        stopper = self.stopper.checkpoint_state() if self.stopper is not None else None
        self.state = reported_state(self.state, reports, g, entry, stopper)
        if self.store:
            self.store.save(self.state, self.model, self.optimizer)


def unregistered(cause: str, registered: list[int], round_id: int, cfg) -> str:
    """`cause`, naming the ranks that never registered with the rendezvous when some did.

    A rank's task that lands on a stopped or frozen Python worker (alive, holding its
    Spark slot) never registers: the ranks that did wait for the peer table and time
    out quoting the rendezvous server, the only peer they know of. The driver's server
    knows who is missing (all ranks or none missing: nothing to add)."""
    missing = sorted(set(range(cfg.num_workers)) - set(registered))
    if not registered or not missing:
        return cause
    return (
        f"{cause}; rank(s) {missing} never registered with the rendezvous of round {round_id} "
        f"(ranks {registered} did): their task did not start within connect_timeout_s="
        f"{cfg.connect_timeout_s:g} s, or its Python worker is stuck (a stopped or frozen process)"
    )
