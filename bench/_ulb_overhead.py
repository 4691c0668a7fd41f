"""`estimator_overhead_share` in bench/ulb.py: DlcoreClassifier.fit vs DistributedTrainer.fit.

Owns the overhead measurement of issue 11 (the estimator adds no training of its own, so
its fit should cost what the trainer's does): both fits on the same data and config, the
order alternating between pairs, each side's Spark jobs counted through a job group.
"""

from __future__ import annotations

import time

import numpy as np


def _timed_jobs(sc, group: str, fn) -> tuple[object, float, int]:
    """(fn(), seconds, Spark jobs it started), counted through a job group of its own."""
    sc.setJobGroup(group, group)
    try:
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    return out, secs, len(sc.statusTracker().getJobIdsForGroup(group))


def overhead(fit_df, repeats: int, net: dict) -> dict:
    """DlcoreClassifier.fit vs DistributedTrainer.fit: same data, same config (`net`: the
    network params). The order
    alternates between pairs (trainer first, then estimator first, ...), so warm-up and
    load drifts hit both sides; each side's Spark jobs are counted too."""
    from fraud_app.ml import DlcoreClassifier
    from fraud_app.models.builders import build_loss, build_model, build_optimizer
    from fraud_app.models.train import feature_statistics
    from fraud_app.spark.trainer import DistributedTrainer

    sc = fit_df.sparkSession.sparkContext
    clf = DlcoreClassifier(**net, epochs=2.0, seed=11)
    section = clf.training_section()
    stats = feature_statistics(fit_df, "features")  # outside the timed trainer run
    width = len(stats[0])

    def trainer_fit():
        model = build_model(section.model, width, section.seed)
        model.layer.layers[0].set_statistics(*stats)
        trainer = DistributedTrainer(
            model,
            build_loss(section.loss),
            build_optimizer(section.optimizer),
            section.distributed.to_config(seed=section.seed, checkpoint_dir=None),
        )
        return trainer.fit(fit_df)

    est_s, trainer_s, within, jobs = [], [], [], {}
    for i in range(repeats):
        sides = [("trainer", trainer_fit), ("estimator", lambda: clf.fit(fit_df))]
        for name, fn in sides if i % 2 == 0 else sides[::-1]:
            out, secs, n_jobs = _timed_jobs(sc, f"overhead-{name}-{i}", fn)
            jobs.setdefault(name, []).append(n_jobs)
            (trainer_s if name == "trainer" else est_s).append(secs)
            if name == "estimator":
                spent = out.fit_seconds
                within.append((spent["total"] - spent["training"]) / spent["training"])
    pairs = sorted((e - t) / t for e, t in zip(est_s, trainer_s, strict=True))
    return {
        "estimator_overhead_share": round((min(est_s) - min(trainer_s)) / min(trainer_s), 4),
        "estimator_overhead_share_median_pair": round(float(np.median(pairs)), 4),
        # the estimator's own time (param checks, model wrapping) over the training
        # function's time (data pass with the checks and moments, then training), inside
        # the same fit: immune to run-to-run noise on a busy machine
        "estimator_overhead_share_within_fit": round(min(within), 4),
        "estimator_fit_s": [round(s, 2) for s in est_s],
        "trainer_fit_s": [round(s, 2) for s in trainer_s],
        "spark_jobs_estimator": jobs["estimator"],
        "spark_jobs_trainer": jobs["trainer"],
    }
