"""Driver program for the standalone-cluster test: 2 data-parallel replicas on `spark://...`.

Run in its own process (the test suite's local[2] session must not be the active one):
    python -m tests.integration.standalone_driver --master spark://127.0.0.1:7077 --out result.json

Builds the session through fraud_app.spark.session.get_spark (so the app's DEFAULT_CONF,
barrier fail-fast settings included, applies), trains with DistributedTrainer, trains a
single-process reference on the same global batches (the approach of
tests/fraud_app/spark/test_distributed.py), and reads from the application's own REST API
which executor ran each barrier task. Writes everything to --out as JSON and exits 0.

The reference is built from the very partitions the trainer trained on, recorded when the
trainer persisted them: on a multi-executor cluster a second `to_training_blocks` call gives
each rank the same rows but in another order (see `block_order_check`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import numpy as np

import fraud_app.spark.trainer as trainer_module
from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD, ShardContext
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.cursor import DataCursor
from fraud_app.spark.data import PartitionData, decode_blocks, to_training_blocks
from fraud_app.spark.session import get_spark
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model, _scaled
from tests.integration.spark_standalone import get_json, poll

logger = logging.getLogger("standalone_driver")

JOB_GROUP = "standalone-fit"
CONFIG = DistributedConfig(
    num_workers=2,
    global_batch_size=32,
    iterations=18,
    epochs=None,
    group_size=5,
    stage_groups=2,  # 4 groups in 2 barrier stages: (5, 5) and (5, 3)
    warmup_iterations=5,
    connect_timeout_s=30,
    op_timeout_s=60,
    max_retries=0,
)


def spark_conf(executors: int) -> dict[str, str]:
    return {
        "spark.executor.cores": "1",
        "spark.task.cpus": "1",
        "spark.cores.max": str(executors),
        "spark.executor.memory": "512m",
        "spark.driver.memory": "768m",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        # Do not schedule (and fail the barrier slot check) before every executor is up.
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "90s",
        # The app's own UI on a random port: its REST API says where each task ran.
        "spark.ui.enabled": "true",
        "spark.ui.port": "0",
    }


def barrier_tasks(sc, expected_jobs: int) -> list[dict[str, Any]]:
    """[{job, stage, tasks: [{index, executor, host, status}]}] for the trainer's barrier jobs.

    The status store is fed by the listener bus asynchronously: poll until every barrier
    job has finished and each of its tasks is recorded.
    """
    api = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"

    def snapshot() -> list[dict[str, Any]] | None:
        jobs = [
            j
            for j in get_json(f"{api}/jobs")
            if j.get("jobGroup") == JOB_GROUP  # the trainer's stages keep the caller's group
            and any(t.startswith("fraud_app-train-") for t in j.get("jobTags", []))
        ]
        if len(jobs) != expected_jobs or any(j["status"] != "SUCCEEDED" for j in jobs):
            return None
        out = []
        for job in sorted(jobs, key=lambda j: j["jobId"]):
            # A job also lists the stages it skipped (the persisted blocks' lineage).
            ran = [
                s
                for s in job["stageIds"]
                if get_json(f"{api}/stages/{s}")[0]["status"] != "SKIPPED"
            ]
            if len(ran) != 1:
                return None
            stage = ran[0]
            tasks = get_json(f"{api}/stages/{stage}/0/taskList?length=100")
            if len(tasks) != CONFIG.num_workers or any(t["status"] != "SUCCESS" for t in tasks):
                return None
            out.append(
                {
                    "job": job["jobId"],
                    "stage": stage,
                    "name": job["name"],
                    "tasks": [
                        {
                            "index": t["index"],
                            "executor": t["executorId"],
                            "host": t["host"],
                            "status": t["status"],
                        }
                        for t in sorted(tasks, key=lambda t: t["index"])
                    ],
                }
            )
        return out

    return poll(snapshot, timeout_s=60, what=f"{expected_jobs} finished barrier jobs in {api}/jobs")


def collect_partitions(blocks) -> dict[int, PartitionData]:
    return dict(blocks.mapPartitionsWithIndex(lambda i, it: [(i, decode_blocks(it))]).collect())


class RecordingBlocks:
    """Stands in for trainer.to_training_blocks: the real function, plus a copy of what it made.

    Collecting the persisted blocks materialises them, so the barrier tasks read these bytes.
    """

    def __init__(self) -> None:
        self.parts: dict[int, PartitionData] = {}

    def __call__(self, df, **kwargs):
        blocks = to_training_blocks(df, **kwargs)
        self.parts = collect_partitions(blocks)
        return blocks


def reference_weights(parts: dict[int, PartitionData], optimizer) -> np.ndarray:
    """One process, one model: each step on the concatenation of every rank's local batch."""
    cfg = CONFIG
    cursors = [
        DataCursor(parts[r], seed=cfg.seed, rank=r, shuffle=cfg.shuffle)
        for r in range(cfg.num_workers)
    ]
    model, loss = _model(), BCEWithLogits()
    state = optimizer.init_state(model.params.size)
    shard = ShardContext.for_params(model.params)
    for _ in range(cfg.iterations):
        batches = [c.next_batch(cfg.local_batch_size) for c in cursors]
        logits, backprop = model.forward(np.concatenate([b[0] for b in batches]), training=True)
        _, dlogits = loss(
            logits, np.concatenate([b[1] for b in batches]), denominator=cfg.global_batch_size
        )
        backprop(dlogits)
        optimizer.step(model.params.data, model.params.grad, state, shard)
    return model.params.data.copy()


def block_order_check(df, trained: dict[int, PartitionData]) -> dict[str, bool]:
    """Does a second to_training_blocks call give each rank the same rows / the same row order?"""
    blocks = to_training_blocks(
        df,
        features_col="features",
        label_col="label",
        weight_col=None,
        num_workers=CONFIG.num_workers,
    )
    try:
        again = collect_partitions(blocks)
    finally:
        blocks.unpersist()

    def rows(p: PartitionData) -> np.ndarray:
        return np.column_stack([p.X, p.y])

    def canonical(p: PartitionData) -> np.ndarray:
        return rows(p)[np.lexsort(rows(p).T[::-1])]

    return {
        "same_rows": all(
            np.array_equal(canonical(trained[r]), canonical(again[r])) for r in trained
        ),
        "same_order": all(np.array_equal(rows(trained[r]), rows(again[r])) for r in trained),
    }


def run(master: str) -> dict[str, Any]:
    spark = get_spark(master, "fraud-app-standalone-test", spark_conf(CONFIG.num_workers))
    sc = spark.sparkContext
    try:
        executors = poll(
            lambda: n if (n := sc._jsc.sc().getExecutorMemoryStatus().size() - 1) >= 2 else None,
            timeout_s=90,
            what=f"{CONFIG.num_workers} executors registered with the driver",
        )
        logger.info("%d executors registered", executors)
        df = _df(spark)
        trainer = DistributedTrainer(
            _model(), BCEWithLogits(), SGD(learning_rate=0.1, momentum=0.9), CONFIG
        )
        recorder = RecordingBlocks()
        trainer_module.to_training_blocks = recorder
        sc.setJobGroup(JOB_GROUP, "DistributedTrainer.fit on the standalone cluster")
        result = trainer.fit(df)
        sc.setLocalProperty("spark.jobGroup.id", None)
        logger.info("fit done; training the single-process reference")
        reference = reference_weights(recorder.parts, _scaled(trainer))
        return {
            "app_id": sc.applicationId,
            "master": sc.master,
            "driver_host": sc.getConf().get("spark.driver.host"),
            "executors": executors,
            "iterations": result.iterations,
            "retries": result.retries,
            "history": result.history,
            "weights": result.model.params.data.tolist(),
            "reference": reference.tolist(),
            "partition_rows": [recorder.parts[r].rows for r in sorted(recorder.parts)],
            "block_order_check": block_order_check(df, recorder.parts),
            "barrier_jobs": barrier_tasks(sc, sum(h["stage_start"] for h in result.history)),
        }
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    payload = run(args.master)
    with open(args.out, "w") as fh:
        json.dump(payload, fh, default=lambda v: v.item())  # numpy scalars in the history
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
