"""The driver program of netns_spark.py: runs in host 0's namespaces, writes result.json.

Waits until the master (same host) lists 2 ALIVE workers, builds the session through
fraud_app.spark.session.get_spark against spark://<host 0>:7077, trains 4 barrier ranks
with DistributedTrainer, then a single-process reference on the partitions the ranks
trained on (recorded as the trainer made them), and reads from the application's REST
API on which host each barrier task ran.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

import fraud_app.spark.trainer as trainer_module
from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import SGD
from dlcore.optimizers.base import ShardContext
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.cursor import DataCursor
from fraud_app.spark.data import PartitionData
from fraud_app.spark.session import get_spark
from tests.fraud_app.spark.test_distributed import D, _df, _scaled
from tests.integration.spark_standalone import get_json, poll
from tests.integration.standalone_driver import RecordingBlocks

logger = logging.getLogger("netns_spark_driver")
WORLD = 4
START_S = 400.0  # for the master + workers, then for the executors


def alive_workers(url: str) -> int:
    return sum(w["state"] == "ALIVE" for w in get_json(url, timeout_s=30)["workers"])


def config(job: dict) -> DistributedConfig:
    return DistributedConfig(
        num_workers=WORLD,
        global_batch_size=32,
        iterations=job["iterations"],
        epochs=None,
        group_size=job["group_size"],
        stage_groups=1000,  # one stage for the whole run unless a fault splits it
        warmup_iterations=5,
        connect_timeout_s=30,
        op_timeout_s=job["op_timeout"],
        stage_start_timeout_s=job["stage_start_timeout"],
        max_retries=job["max_retries"],
        topology=job["topology"],
    )


def model(hidden: int) -> Model:
    return Model(Sequential([Linear(hidden), ReLU(), Linear(1)]), in_features=D, seed=1)


def spark_conf(address: str) -> dict[str, str]:
    return {
        "spark.driver.host": address,
        "spark.executor.cores": "2",
        "spark.task.cpus": "1",
        "spark.cores.max": str(WORLD),
        "spark.executor.memory": "512m",
        "spark.driver.memory": "768m",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "300s",
        "spark.ui.enabled": "true",
        "spark.ui.port": "4040",
    }


def reference_weights(parts: dict[int, PartitionData], optimizer, cfg, hidden: int):
    """One process, one model: each step on the concatenation of every rank's local batch."""
    cursors = [DataCursor(parts[r], seed=cfg.seed, rank=r, shuffle=cfg.shuffle) for r in parts]
    net, loss = model(hidden), BCEWithLogits()
    state = optimizer.init_state(net.params.size)
    shard = ShardContext.for_params(net.params)
    for _ in range(cfg.iterations):
        batches = [c.next_batch(cfg.local_batch_size) for c in cursors]
        logits, backprop = net.forward(np.concatenate([b[0] for b in batches]), training=True)
        _, dlogits = loss(
            logits, np.concatenate([b[1] for b in batches]), denominator=cfg.global_batch_size
        )
        backprop(dlogits)
        optimizer.step(net.params.data, net.params.grad, state, shard)
    return net.params.data.copy()


def task_hosts(sc) -> dict[str, list[str]]:
    """stage id -> the host of each barrier task (by rank) that succeeded, from the REST API."""
    api = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"
    jobs = [
        j
        for j in get_json(f"{api}/jobs", timeout_s=60)
        if any(t.startswith("fraud_app-train-") for t in j.get("jobTags", []))
    ]
    out: dict[str, list[str]] = {}
    for job in jobs:
        for stage in job["stageIds"]:
            for attempt in get_json(f"{api}/stages/{stage}", timeout_s=60):
                if attempt["status"] == "SKIPPED":
                    continue
                tasks = get_json(
                    f"{api}/stages/{stage}/{attempt['attemptId']}/taskList?length=100", timeout_s=60
                )
                ok = sorted((t["index"], t["host"]) for t in tasks if t["status"] == "SUCCESS")
                if len(ok) == WORLD:
                    out[str(stage)] = [h for _, h in ok]
    return out


def train(spark, job: dict) -> dict[str, Any]:
    cfg = config(job)
    df = _df(spark)
    trainer = trainer_module.DistributedTrainer(
        model(job["hidden"]), BCEWithLogits(), SGD(learning_rate=0.1, momentum=0.9), cfg
    )
    recorder = RecordingBlocks()
    trainer_module.to_training_blocks = recorder
    t0 = time.time()
    out: dict[str, Any] = {"fit_started_at": t0}
    try:
        result = trainer.fit(df)
    except TrainingError as exc:
        out.update(error=f"{type(exc).__name__}: {exc}", fit_ended_at=time.time())
        out["fit_s"] = round(out["fit_ended_at"] - t0, 2)
        return out
    out["fit_ended_at"] = time.time()
    out["fit_s"] = round(out["fit_ended_at"] - t0, 2)
    reference = reference_weights(recorder.parts, _scaled(trainer), cfg, job["hidden"])
    weights = result.model.params.data
    out.update(
        iterations=result.iterations,
        retries=result.retries,
        failures=getattr(result, "failures", None),
        groups=[h["group"] for h in result.history],
        transports=[h.get("transport") for h in result.history if h.get("stage_start")],
        rel_diff_vs_single_process=float(
            np.linalg.norm(weights - reference) / np.linalg.norm(reference)
        ),
        weights_allclose_rtol_1e5=bool(np.allclose(weights, reference, rtol=1e-5, atol=1e-6)),
        partition_rows=[recorder.parts[r].rows for r in sorted(recorder.parts)],
        samples_per_s=[round(h["samples_per_s"], 1) for h in result.history],
    )
    return out


def drive(run_dir: Path) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(created).3f %(levelname)s %(name)s: %(message)s"
    )
    job = json.loads((run_dir / "job.json").read_text())
    address = job["master"].split("//")[1].split(":")[0]
    out: dict[str, Any] = {}
    try:
        # Generous: JVMs start in 2-3 min at a 1-minute load of 30 on this 2-core machine.
        poll(
            lambda: True if alive_workers(f"http://{address}:8080/json/") == 2 else None,
            timeout_s=START_S,
            what="2 ALIVE workers at the master",
        )
        spark = get_spark(job["master"], "fraud-app-netns", spark_conf(address))
        sc = spark.sparkContext
        try:
            poll(
                lambda: True if sc._jsc.sc().getExecutorMemoryStatus().size() - 1 >= 2 else None,
                timeout_s=START_S,
                what="2 executors registered with the driver",
            )
            out.update(train(spark, job))
            logger.info("training ended: %s", out.get("error", "finished"))
            if "error" in out:  # save before stop(): it waits on unreachable executors
                save(run_dir, out)
            out["task_hosts"] = task_hosts(sc)
            save(run_dir, out)
        finally:
            spark.stop()
    except Exception as exc:  # reported in the JSON: the run is the test subject
        out["driver_error"] = f"{type(exc).__name__}: {exc}"
        logger.error("driver failed: %s", traceback.format_exc())
    save(run_dir, out)
    return 0


def save(run_dir: Path, out: dict[str, Any]) -> None:
    part = run_dir / "result.json.part"
    part.write_text(json.dumps(out, default=float))
    part.replace(run_dir / "result.json")
