"""ULB credit-card fraud, time-ordered split: our estimators vs XGBoost and scikit-learn's MLP.

Data: creditcard.csv (bench/data/get_ulb.py fetches it). Rows sorted by Time; the
earliest 80 % train, the latest 20 % test. The last `--val-share` of the training part is
the validation part: it drives early stopping and is the ONLY thing configurations are
chosen on. Features (`--transform`, the same for every contender, see `prepare`): V1-V28
and log1p(Amount) by default (Time only orders the rows, unless `--time-of-day`).
A configuration with "seeds": [...] is the mean probability of one model per seed (done by
the benchmark; the estimator's own param for it is numRepeats). A configuration with
"refit": true is trained again on fit + validation rows for its early-stopped iteration
counts: its validation AP is the estimator's `validation_ap`, the ensemble's BEFORE the
refit (the refit one has seen those rows), so it is chosen on the same footing.
With --refit, the ensemble configuration chosen on validation is fitted again with
"refit": true (as fraud-app train ships a model) and its test AP becomes ulb_time_split_ap.

Contenders, all scored by average precision of probabilities on the test part, same run:
  ulb_time_split_ap              BalancedBaggingClassifier (UnionPay ensemble), best on validation
  ulb_time_split_ap_single       DlcoreClassifier, best on validation
  ulb_time_split_ap_xgboost      xgboost hist, scale_pos_weight = normals / frauds, best on validation
  ulb_time_split_ap_sklearn_mlp  StandardScaler + MLPClassifier(64, 32)
and estimator_overhead_share: (DlcoreClassifier.fit - DistributedTrainer.fit) /
DistributedTrainer.fit on the same data and config (best of `--repeats` pairs, the order
alternating between pairs; also the median pair and each side's Spark job count).
Every configuration tried is printed with its validation and test AP (stderr), and the
last stdout line is ONE JSON object with all figures.

    python bench/ulb.py                    # full data
    python bench/ulb.py --rows 60000       # quick check on the earliest rows
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _spark_common import machine, spark_session
from data.get_ulb import ensure_ulb
from sklearn.metrics import average_precision_score

PCA = [f"V{i}" for i in range(1, 29)]
# --time-of-day adds the hour of the day (Time is seconds since the first transaction, which
# the data set's authors place at midnight) on the unit circle, for every contender alike.
NET = dict(hiddenLayers=[64, 32], dropout=0.1, batchSize=512, learningRate=1e-3)
OURS = [  # BalancedBaggingClassifier configurations (chosen by validation AP)
    dict(numSubsets=5, normalRatio=0.0, epochs=15.0),
    dict(numSubsets=5, normalRatio=0.0, epochs=15.0, hiddenLayers=[128, 64]),
]
SINGLE = [dict(epochs=10.0), dict(epochs=10.0, posWeight=5.0)]
XGB = [dict(max_depth=4), dict(max_depth=6)]


def load(rows: int | None):
    import pandas as pd

    df = pd.read_csv(ensure_ulb()).sort_values("Time", kind="mergesort").reset_index(drop=True)
    return df.iloc[:rows] if rows else df


def prepare(df, n_fit: int, transform: str, time_of_day: bool = False):
    """(X float32, y): the benchmark's feature preparation, the same for every contender.

    transform: "log_amount" V1-V28 as they are + log1p(Amount); "signed_log" also
    sign(v) * log1p(|v|) on V1-V28 (tames their heavy tails, keeps the order);
    "quantile" V1-V28 and Amount through a Gaussian quantile map fitted on the
    first n_fit rows (the training part before validation) only.
    """
    v = df[PCA].to_numpy(np.float64)
    amount = df["Amount"].to_numpy(np.float64)[:, None]
    if transform == "quantile":
        from sklearn.preprocessing import QuantileTransformer

        raw = np.hstack([v, amount])
        qt = QuantileTransformer(
            n_quantiles=min(1000, n_fit), output_distribution="normal", random_state=0
        )
        X = qt.fit(raw[:n_fit]).transform(raw)
    elif transform in ("log_amount", "signed_log"):
        if transform == "signed_log":
            v = np.sign(v) * np.log1p(np.abs(v))
        X = np.hstack([v, np.log1p(amount)])
    else:
        raise ValueError(f"unknown --transform {transform!r}: log_amount, signed_log or quantile")
    if time_of_day:
        angle = 2 * np.pi * (df["Time"].to_numpy() % 86400) / 86400
        X = np.hstack([X, np.sin(angle)[:, None], np.cos(angle)[:, None]])
    return X.astype(np.float32), df["Class"].to_numpy(np.float64)


def split(n: int, val_share: float):
    n_train = int(0.8 * n)
    n_fit = int(n_train * (1 - val_share))
    return slice(0, n_fit), slice(n_fit, n_train), slice(n_train, n)


def to_spark(spark, X, y, is_val):
    import pandas as pd
    from pyspark.sql import functions as F

    names = [f"x{i}" for i in range(X.shape[1])]
    pdf = pd.DataFrame(X, columns=names)
    pdf["label"], pdf["is_val"] = y, is_val
    df = spark.createDataFrame(pdf)
    df = df.select(F.array(*names).cast("array<float>").alias("features"), "label", "is_val")
    df = df.repartition(2).cache()
    df.count()
    return df


def mean_scores(models, df) -> tuple[np.ndarray, np.ndarray]:
    """(P, label) for every row of df, in one pass: P's columns are each model's fraud
    probability, then their mean (the last column)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    cols = []
    for i, model in enumerate(models):
        model = model.copy()
        model.setProbabilityCol(f"p{i}").setRawPredictionCol("").setPredictionCol("")
        df = model.transform(df)
        cols.append(vector_to_array(F.col(f"p{i}"))[1])
    out = df.select(*cols, (sum(cols[1:], cols[0]) / len(cols)).alias("mean"), "label")
    pdf = out.toPandas()
    return pdf.drop(columns="label").to_numpy(), pdf["label"].to_numpy()


def ap_of(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(average_precision_score(y, p)), 4)


def fit_config(name, make, cfg, fit_df, val_df, test_df, tried) -> dict:
    """Fit one configuration and record its validation and test AP. With "seeds": [s1, ...]
    one model per seed, scored by the mean of their probabilities (the members of all of
    them, averaged alike). With "refit": true the validation AP is the model's
    `validation_ap` (before the refit)."""
    params = {k: v for k, v in cfg.items() if k != "seeds"}
    seeds = cfg.get("seeds") or [params.pop("seed", 0)]
    if params.get("refit") and len(seeds) > 1:
        raise ValueError(f"{cfg}: refit with several seeds: use numRepeats instead")
    t0 = time.perf_counter()
    models = [make({**params, "seed": s}).fit(fit_df) for s in seeds]
    secs = time.perf_counter() - t0
    val_p, val_y = mean_scores(models, val_df)
    test_p, test_y = mean_scores(models, test_df)
    before_refit = models[0].validation_ap
    rec = {
        "model": name,
        "config": cfg,
        "val_ap": float(
            average_precision_score(val_y, val_p[:, -1]) if before_refit is None else before_refit
        ),
        "test_ap": float(average_precision_score(test_y, test_p[:, -1])),
        "fit_s": round(secs, 1),
        "best_iterations": [h.get("best_iteration") for m in models for h in m.history],
    }
    if before_refit is not None:  # for reference only: the refit model has trained on val
        rec["val_ap_after_refit_not_a_criterion"] = ap_of(val_y, val_p[:, -1])
        rec["refit_iterations"] = [h.get("refit_iterations") for h in models[0].history]
    if len(models) > 1:  # each seed's own model, for the spread
        rec["val_ap_per_seed"] = [ap_of(val_y, val_p[:, i]) for i in range(len(models))]
        rec["test_ap_per_seed"] = [ap_of(test_y, test_p[:, i]) for i in range(len(models))]
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec


def run_grid(name, make, configs, fit_df, val_df, test_df, tried):
    """Fit each configuration (fit_config); the best on validation AP wins."""
    best = None
    for cfg in configs:
        rec = fit_config(name, make, cfg, fit_df, val_df, test_df, tried)
        if best is None or rec["val_ap"] > best["val_ap"]:
            best = rec
    return best


def run_xgboost(X, y, fit, val, test, tried):
    from xgboost import XGBClassifier

    best = None
    spw = float((y[fit] == 0).sum() / max(1, (y[fit] == 1).sum()))
    for cfg in XGB:
        clf = XGBClassifier(
            n_estimators=600,
            learning_rate=0.05,
            tree_method="hist",
            scale_pos_weight=spw,
            eval_metric="aucpr",
            early_stopping_rounds=50,
            n_jobs=2,
            random_state=0,
            **cfg,
        )
        t0 = time.perf_counter()
        clf.fit(X[fit], y[fit], eval_set=[(X[val], y[val])], verbose=False)
        rec = {
            "model": "xgboost",
            "config": {**cfg, "scale_pos_weight": round(spw, 1)},
            "val_ap": float(average_precision_score(y[val], clf.predict_proba(X[val])[:, 1])),
            "test_ap": float(average_precision_score(y[test], clf.predict_proba(X[test])[:, 1])),
            "fit_s": round(time.perf_counter() - t0, 1),
            "best_iterations": [clf.best_iteration],
        }
        tried.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        if best is None or rec["val_ap"] > best["val_ap"]:
            best = rec
    return best


def run_sklearn_mlp(X, y, fit, val, test, tried):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), MLPClassifier((64, 32), max_iter=50, random_state=0))
    t0 = time.perf_counter()
    clf.fit(X[fit], y[fit])
    rec = {
        "model": "sklearn_mlp",
        "config": {"hidden": [64, 32], "max_iter": 50},
        "val_ap": float(average_precision_score(y[val], clf.predict_proba(X[val])[:, 1])),
        "test_ap": float(average_precision_score(y[test], clf.predict_proba(X[test])[:, 1])),
        "fit_s": round(time.perf_counter() - t0, 1),
    }
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec


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


def overhead(fit_df, repeats: int) -> dict:
    """DlcoreClassifier.fit vs DistributedTrainer.fit: same data, same config. The order
    alternates between pairs (trainer first, then estimator first, ...), so warm-up and
    load drifts hit both sides; each side's Spark jobs are counted too."""
    from fraud_app.ml import DlcoreClassifier
    from fraud_app.models.builders import build_loss, build_model, build_optimizer
    from fraud_app.models.train import feature_statistics
    from fraud_app.spark.trainer import DistributedTrainer

    sc = fit_df.sparkSession.sparkContext
    clf = DlcoreClassifier(**NET, epochs=2.0, seed=11)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="use only the earliest N rows")
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument(
        "--time-of-day", action="store_true", help="add the hour of the day (sin, cos) as features"
    )
    parser.add_argument(
        "--transform",
        default="log_amount",
        choices=["log_amount", "signed_log", "quantile"],
        help="feature preparation for every contender (see prepare)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--refit",
        action="store_true",
        help="refit the ensemble configuration chosen on validation on fit + validation rows "
        "for its early-stopped iteration counts (as fraud-app train does) and report that "
        "model's test AP as ulb_time_split_ap (the chosen one's as ulb_time_split_ap_no_refit)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["ours", "single", "overhead", "xgboost", "mlp"]
    )
    parser.add_argument(
        "--ours",
        type=json.loads,
        default=OURS,
        help="JSON list of BalancedBaggingClassifier configurations to try",
    )
    parser.add_argument(
        "--single",
        type=json.loads,
        default=SINGLE,
        help="JSON list of DlcoreClassifier configurations to try",
    )
    args = parser.parse_args(argv)
    if args.refit and any(len(c.get("seeds") or []) > 1 for c in args.ours):
        parser.error("--refit needs single-seed --ours configurations (use numRepeats)")
    logging.basicConfig(level=logging.WARNING)
    info = machine()
    frame = load(args.rows)
    fit, val, test = split(len(frame), args.val_share)
    X, y = prepare(frame, fit.stop, args.transform, args.time_of_day)
    is_val = np.zeros(len(y), bool)
    is_val[val] = True
    tried: list[dict] = []
    out = {
        "rows": len(y),
        "features": X.shape[1],
        "frauds": int(y.sum()),
        "train_rows": fit.stop,
        "val_rows": val.stop - val.start,
        "test_rows": len(y) - test.start,
        "test_frauds": int(y[test].sum()),
        "val_frauds": int(y[val].sum()),
        "transform": args.transform,
    }

    from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier

    spark = spark_session("ulb-bench")
    spark.sparkContext.setLogLevel("ERROR")
    trainval = to_spark(spark, X[: val.stop], y[: val.stop], is_val[: val.stop])
    val_df, test_df = trainval.where("is_val"), to_spark(spark, X[test], y[test], is_val[test])
    common = dict(validationIndicatorCol="is_val", earlyStoppingPatience=4, seed=0)
    if "ours" not in args.skip:

        def make_ours(c):
            return BalancedBaggingClassifier(**{**NET, **common, **c})

        best = run_grid(
            "balanced_bagging",
            make_ours,
            args.ours,
            trainval,
            val_df,
            test_df,
            tried,
        )
        out["ulb_time_split_ap"], out["ours_config"] = best["test_ap"], best["config"]
        if args.refit:  # the chosen configuration again, refit on fit + validation rows
            cfg = {**best["config"], "refit": True}
            rec = fit_config(
                "balanced_bagging_refit", make_ours, cfg, trainval, val_df, test_df, tried
            )
            out["ulb_time_split_ap_no_refit"] = out["ulb_time_split_ap"]
            out["ulb_time_split_ap"], out["ours_config"] = rec["test_ap"], cfg
            out["refit_val_ap_matches"] = abs(rec["val_ap"] - best["val_ap"]) < 1e-6
    if "single" not in args.skip:
        best = run_grid(
            "dlcore_single",
            lambda c: DlcoreClassifier(**{**NET, **common, **c}),
            args.single,
            trainval,
            val_df,
            test_df,
            tried,
        )
        out["ulb_time_split_ap_single"], out["single_config"] = best["test_ap"], best["config"]
    if "overhead" not in args.skip:
        out.update(overhead(trainval.where("NOT is_val").drop("is_val").cache(), args.repeats))
    spark.stop()
    if "xgboost" not in args.skip:
        out["ulb_time_split_ap_xgboost"] = run_xgboost(X, y, fit, val, test, tried)["test_ap"]
    if "mlp" not in args.skip:
        out["ulb_time_split_ap_sklearn_mlp"] = run_sklearn_mlp(X, y, fit, val, test, tried)[
            "test_ap"
        ]
    out["tried"] = tried
    out.update(info, load_avg_1m_end=round(os.getloadavg()[0], 2))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
