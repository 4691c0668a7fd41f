"""GroupedEngine: G iterations per barrier stage, peer-to-peer sync, recovery at group boundaries.

Per group the driver: plans G, broadcasts the last committed state (fetched by
a task only when its worker process did not keep it from the previous group),
launches one barrier stage whose tasks rendezvous through the driver's small
authenticated rendezvous service and then train G iterations talking only to
each other, collects each rank's state, logs progress and writes a checkpoint.
A failed stage (killed task, crashed worker, peer timeout: Spark aborts the
whole barrier job, it does not retry it) is retried from the committed state
with a fresh rendezvous round, up to `max_retries` times in a row.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from dlcore.dist import RendezvousServer, new_job_secret
from dlcore.optimizers.base import OptimizerState
from fraud_app.errors import TrainingError
from fraud_app.spark.checkpoint import CheckpointStore, TrainingState
from fraud_app.spark.engine_base import Engine, TrainingResult, log_progress
from fraud_app.spark.planner import GroupPlanner
from fraud_app.spark.worker import GroupTask, run_group

logger = logging.getLogger(__name__)


class GroupedEngine(Engine):
    def run(self, blocks, rows: int) -> TrainingResult:
        cfg = self.config
        total = cfg.total_iterations(rows)
        store = (
            CheckpointStore(cfg.checkpoint_dir, fingerprint=self.fingerprint(rows))
            if cfg.checkpoint_dir
            else None
        )
        loaded = store.load(self.optimizer) if store else None
        state = loaded[0] if loaded else self.initial_state()
        if loaded:
            logger.info(
                "resuming from checkpoint %s at iteration %d", store.latest(), state.iteration
            )
        planner = GroupPlanner(
            cfg.group_size, target=cfg.auto_overhead_target, max_group=cfg.max_group_size
        )
        secret = new_job_secret()
        conf = self.sc.getConf()
        advertise = conf.get("spark.driver.host", "127.0.0.1")
        bind = conf.get("spark.driver.bindAddress", advertise)  # differs behind NAT / in containers
        retries, failures, round_id = 0, [], 0
        with RendezvousServer(
            secret, cfg.num_workers, host=bind, advertise_host=advertise
        ) as server:
            while state.iteration < total:
                g = planner.next(total - state.iteration)
                attempt = 0
                while True:
                    round_id += 1
                    try:
                        results, wall = self._run_stage(
                            blocks, state, g, round_id, server.address, secret, attempt
                        )
                        break
                    except Exception as exc:
                        cause = _root_cause(exc)
                        failures.append(f"group {state.group} attempt {attempt}: {cause}")
                        attempt += 1
                        retries += 1
                        if attempt > cfg.max_retries:
                            raise TrainingError(
                                f"group {state.group} (iterations {state.iteration}-{state.iteration + g}) failed "
                                f"{attempt} times; giving up after max_retries={cfg.max_retries}. Last cause: {cause}"
                            ) from exc
                        logger.warning(
                            "group %d failed (%s); retrying from iteration %d (attempt %d/%d)",
                            state.group,
                            cause,
                            state.iteration,
                            attempt,
                            cfg.max_retries,
                        )
                state = self._advance(state, results, g, wall, total, planner)
                if store:
                    store.save(state, self.model, self.optimizer)
        return self.finish(state, rows, retries, failures)

    def _run_stage(
        self,
        blocks,
        state: TrainingState,
        g: int,
        round_id: int,
        address,
        secret: bytes,
        attempt: int,
    ) -> tuple[list[dict[str, Any]], float]:
        cfg = self.config
        fault = None
        if (
            self.fault
            and attempt == 0
            and state.iteration <= self.fault.iteration < state.iteration + g
        ):
            fault = (self.fault.rank, self.fault.iteration)
        bc = self.sc.broadcast(_payload(state))
        task = GroupTask(
            run_id=self.run_id,
            round_id=round_id,
            group=state.group,
            start_iteration=state.iteration,
            iterations=g,
            world_size=cfg.num_workers,
            rendezvous_address=tuple(address),
            secret=secret,
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
            state_version=state.group,
            state_broadcast=bc,
            fault=fault,
        )
        try:
            t0 = time.perf_counter()
            results = blocks.barrier().mapPartitions(lambda it: [run_group(task, it)]).collect()
            return sorted(results, key=lambda r: r["rank"]), time.perf_counter() - t0
        finally:
            bc.destroy()

    def _advance(
        self,
        state: TrainingState,
        results: list[dict[str, Any]],
        g: int,
        wall: float,
        total: int,
        planner: GroupPlanner,
    ) -> TrainingState:
        loop = max(r["loop_s"] for r in results)
        planner.observe(wall_s=wall, loop_s=loop, iterations=g)
        samples = sum(r["samples"] for r in results)
        entry = {
            "group": state.group,
            "start_iteration": state.iteration,
            "end_iteration": state.iteration + g,
            "iterations": g,
            "loss": sum(r["loss_sum"] for r in results) / g,
            "wall_s": wall,
            "samples_per_s": samples / wall,
            "compute_share": float(np.mean([r["compute_s"] for r in results])) / wall,
            "sync_share": float(np.mean([r["sync_s"] for r in results])) / wall,
            "scheduling_share": max(wall - loop, 0.0) / wall,
            "rendezvous_s": max(r["rendezvous_s"] for r in results),
            "data_cache_hits": sum(bool(r["data_cache_hit"]) for r in results),
            "state_cache_hits": sum(bool(r["state_cache_hit"]) for r in results),
        }
        log_progress(entry, total)
        rank0 = results[0]
        return TrainingState(
            iteration=state.iteration + g,
            group=state.group + 1,
            params=rank0["params"],
            layer_state=rank0["layer_state"],
            opt_states=[OptimizerState(step=r["opt_step"], slots=r["opt_slots"]) for r in results],
            positions=[tuple(r["position"]) for r in results],
            history=[*state.history, entry],
        )


def _payload(state: TrainingState) -> dict[str, Any]:
    return {
        "params": state.params,
        "layer_state": state.layer_state,
        "opt_slots": [s.slots for s in state.opt_states],
        "opt_steps": [s.step for s in state.opt_states],
        "positions": state.positions,
    }


def _root_cause(exc: BaseException) -> str:
    """A one-line cause from a (possibly Py4J-wrapped) Spark failure."""
    text = str(exc)
    for marker in (
        "CommunicationError",
        "PeerTimeoutError",
        "AuthenticationError",
        "TrainingError",
        "Python worker exited unexpectedly",
        "crashed",
        "killed",
    ):
        for line in text.splitlines():
            if marker in line:
                return line.strip()[:300]
    return (text.splitlines() or [type(exc).__name__])[0][:300]
