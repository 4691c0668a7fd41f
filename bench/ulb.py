"""ULB credit-card fraud, time-ordered split: our estimators vs XGBoost and scikit-learn's MLP.

Data: creditcard.csv (bench/data/get_ulb.py fetches it). Rows sorted by Time; the
earliest 80 % train, the latest 20 % test. The last `--val-share` of the training part is
the validation part: it drives early stopping and is the ONLY thing configurations are
chosen on. Features (`--transform`, the same for every contender, see `prepare`): V1-V28
and log1p(Amount) by default (Time only orders the rows, unless `--time-of-day`).
Without --time-of-day, the DataFrames also hold `features_tod` (the same features + the
hour of the day as sin, cos): a configuration with "featuresCol": "features_tod" (ours) or
"time_of_day": true (XGBoost) uses it.
With `--cv-folds K`, every configuration is fitted K times, on K time-ordered folds of the
training part (_ulb_select.time_folds: fold 0 is the split above, fold i validates on the
i-th block of --val-share counted back from its end and fits on every row before it), and
chosen by the mean of its K validation APs; its test AP is fold 0's model's.
With `--top-k K`, the mean probability of the k best configurations (k = 2..K, ranked by
that score) is a candidate too, scored the same way (fold by fold) and chosen on the same
footing. With `--mixes '[[0, 3], ...]'` the mean of each named group of --ours
configurations (indices) is a candidate too; an --ours configuration with
"estimator": "single" is a DlcoreClassifier, so an ensemble can be mixed with one network.
A configuration with "seeds": [...] is the mean probability of one model per seed (done by
the benchmark; the estimator's own param for it is numRepeats). A configuration with
"refit": true is trained again on fit + validation rows for its early-stopped iteration
counts: its validation AP is the estimator's `validation_ap`, the ensemble's BEFORE the
refit (the refit one has seen those rows), so it is chosen on the same footing (it never
enters a top-k mean). With --refit, the ensemble configuration chosen on validation (each
configuration of a chosen mean) is fitted again on fold 0 with "refit": true (as fraud-app
train ships a model) and its test AP becomes ulb_time_split_ap.

Contenders, all scored by average precision of probabilities on the test part, same run:
  ulb_time_split_ap              BalancedBaggingClassifier (UnionPay ensemble), best on validation
  ulb_time_split_ap_single       DlcoreClassifier, best on validation
  ulb_time_split_ap_xgboost      xgboost hist, scale_pos_weight = normals / frauds, best on validation
  ulb_time_split_ap_sklearn_mlp  StandardScaler + MLPClassifier(64, 32) (one configuration, fold 0)
and estimator_overhead_share: (DlcoreClassifier.fit - DistributedTrainer.fit) /
DistributedTrainer.fit on the same data and config (best of `--repeats` pairs, the order
alternating between pairs; also the median pair and each side's Spark job count).
Every configuration tried is printed with its validation and test AP (stderr), and the
last stdout line is ONE JSON object with all figures.

    python bench/ulb.py                    # full data
    python bench/ulb.py --rows 60000       # quick check on the earliest rows
    python bench/ulb.py --cv-folds 3 --top-k 3 --skip single overhead mlp
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
from _ulb_overhead import overhead
from _ulb_select import (
    Scored,
    ap,
    fold_score,
    hour_of_day,
    mean_of,
    named_mixes,
    time_folds,
    top_k_mixes,
)
from data.get_ulb import ensure_ulb

PCA = [f"V{i}" for i in range(1, 29)]
NET = dict(hiddenLayers=[64, 32], dropout=0.1, batchSize=512, learningRate=1e-3)
OURS = [  # BalancedBaggingClassifier configurations (chosen by validation AP)
    dict(numSubsets=5, normalRatio=0.0, epochs=15.0),
    dict(numSubsets=5, normalRatio=0.0, epochs=15.0, hiddenLayers=[128, 64]),
]
SINGLE = [dict(epochs=10.0), dict(epochs=10.0, posWeight=5.0)]
XGB = [dict(max_depth=4), dict(max_depth=6)]
COMMON = dict(validationIndicatorCol="is_val", earlyStoppingPatience=4, seed=0)


def make_ours(cfg: dict):
    """The estimator of one --ours configuration: a BalancedBaggingClassifier, or with
    "estimator": "single" a DlcoreClassifier (to be mixed with ensembles by --mixes)."""
    from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier

    cfg = dict(cfg)
    kind = cfg.pop("estimator", "bagging")
    if kind not in ("bagging", "single"):
        raise ValueError(f"--ours {cfg}: estimator must be 'bagging' or 'single', got {kind!r}")
    cls = DlcoreClassifier if kind == "single" else BalancedBaggingClassifier
    return cls(**{**NET, **COMMON, **cfg})


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
        X = np.hstack([X, hour_of_day(df["Time"].to_numpy())])
    return X.astype(np.float32), df["Class"].to_numpy(np.float64)


def split(n: int, val_share: float):
    n_train = int(0.8 * n)
    n_fit = int(n_train * (1 - val_share))
    return slice(0, n_fit), slice(n_fit, n_train), slice(n_train, n)


def to_spark(spark, X, y, is_val, col: str = "features"):
    """Cached DataFrame of `col` (array<float>), `label` and `is_val`."""
    import pandas as pd
    from pyspark.sql import functions as F

    names = [f"x{i}" for i in range(X.shape[1])]
    pdf = pd.DataFrame(X, columns=names)
    pdf["label"], pdf["is_val"] = y, is_val
    df = spark.createDataFrame(pdf)
    df = df.select(F.array(*names).cast("array<float>").alias(col), "label", "is_val")
    df = df.repartition(2).cache()
    df.count()
    return df


class Fold:
    """One time-ordered fold: its rows as cached DataFrames, built on first use per features
    column ("features", or "features_tod" = the same + the hour of the day), so a run whose
    configurations never ask for the hours builds exactly the DataFrames it did before.
    `y_val` is the validation labels in the order every model's scores come back in."""

    def __init__(self, spark, arrays: dict, y: np.ndarray, val: slice, test: slice | None):
        self.spark, self.arrays, self.y, self.val, self.test = spark, arrays, y, val, test
        self.frames: dict = {}
        self.y_val: np.ndarray | None = None
        self.y_test: np.ndarray | None = None

    def _frames(self, col: str):
        if col not in self.frames:
            if self.arrays.get(col) is None:
                raise ValueError(f"no {col!r} column in this run (--time-of-day adds the hours "
                                 "to `features` for every contender)")  # fmt: skip
            X, n = self.arrays[col], self.val.stop
            is_val = np.zeros(len(self.y), bool)
            is_val[self.val] = True
            trainval = to_spark(self.spark, X[:n], self.y[:n], is_val[:n], col)
            test = None
            if self.test is not None:
                t = self.test
                test = to_spark(self.spark, X[t], self.y[t], is_val[t], col)
            self.frames[col] = (trainval, trainval.where("is_val"), test)
        return self.frames[col]

    def trainval(self, col: str):
        return self._frames(col)[0]

    def val_df(self, col: str):
        return self._frames(col)[1]

    def test_df(self, col: str):
        return self._frames(col)[2]


def spark_folds(spark, frame, ranges, test: slice, args) -> tuple[list[Fold], list[tuple]]:
    """(folds, [(X, X + hours or None)] per fold): each fold's features prepared with ITS fit
    rows (the quantile map never sees its validation rows); fold 0 also holds the test rows."""
    folds, arrays = [], []
    for i, (fit, val) in enumerate(ranges):
        X, y = prepare(frame, fit.stop, args.transform, args.time_of_day)
        hours = None if args.time_of_day else hour_of_day(frame["Time"].to_numpy())
        X_hours = None if hours is None else np.hstack([X, hours])
        arrays.append((X, X_hours))
        cols = {"features": X, "features_tod": X_hours}
        folds.append(Fold(spark, cols, y, val, test if i == 0 else None))
    return folds, arrays


def mean_scores(models, df) -> tuple[np.ndarray, np.ndarray]:
    """(P, label) for every row of df, in one pass: P's columns are each model's fraud
    probability, then their mean (the last column). Rows come back sorted by (a hash of the
    first 29 features, label), so every model's scores of a fold line up, whichever features
    column it reads (rows equal in both score alike under the models without the hours)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    col = models[0].getFeaturesCol()
    key = F.xxhash64(F.slice(F.col(col), 1, 29)).alias("key")
    cols = []
    for i, model in enumerate(models):
        model = model.copy()
        model.setProbabilityCol(f"p{i}").setRawPredictionCol("").setPredictionCol("")
        df = model.transform(df)
        cols.append(vector_to_array(F.col(f"p{i}"))[1])
    out = df.select(*cols, (sum(cols[1:], cols[0]) / len(cols)).alias("mean"), "label", key)
    pdf = out.toPandas().sort_values(["key", "label"], kind="mergesort")
    return pdf.drop(columns=["label", "key"]).to_numpy(), pdf["label"].to_numpy()


def ap4(y: np.ndarray, p: np.ndarray) -> float:
    return round(ap(y, p), 4)


def _fit_fold(make, params, seeds, fold: Fold):
    """(models, P on the fold's validation rows, the validation AP it is chosen on)."""
    col = params.get("featuresCol", "features")
    models = [make({**params, "seed": s}).fit(fold.trainval(col)) for s in seeds]
    val_p, val_y = mean_scores(models, fold.val_df(col))
    if fold.y_val is None:
        fold.y_val = val_y
    elif not np.array_equal(val_y, fold.y_val):
        raise RuntimeError("validation rows came back in another order than the first model's")
    before_refit = models[0].validation_ap
    return models, val_p, ap(val_y, val_p[:, -1]) if before_refit is None else before_refit


def fit_config(name, make, cfg, folds, tried) -> tuple[dict, Scored]:
    """Fit one configuration on every fold and record its validation score (the mean of
    the folds' validation APs) and test AP (fold 0's model). With "seeds": [s1, ...] one
    model per seed, scored by the mean of their probabilities. With "refit": true the
    validation AP is each model's `validation_ap` (before the refit)."""
    params = {k: v for k, v in cfg.items() if k != "seeds"}
    seeds = cfg.get("seeds") or [params.pop("seed", 0)]
    if params.get("refit") and len(seeds) > 1:
        raise ValueError(f"{cfg}: refit with several seeds: use numRepeats instead")
    t0 = time.perf_counter()
    fitted = [_fit_fold(make, params, seeds, fold) for fold in folds]
    secs = time.perf_counter() - t0
    models, val_p, _ = fitted[0]
    test_p, test_y = mean_scores(models, folds[0].test_df(params.get("featuresCol", "features")))
    if folds[0].y_test is None:
        folds[0].y_test = test_y
    elif not np.array_equal(test_y, folds[0].y_test):
        raise RuntimeError("test rows came back in another order than the first model's")
    per_fold = [f[2] for f in fitted]
    rec = {
        "model": name,
        "config": cfg,
        "val_ap": float(np.mean(per_fold)),
        "test_ap": ap(test_y, test_p[:, -1]),
        "fit_s": round(secs, 1),
        "best_iterations": [h.get("best_iteration") for m in models for h in m.history],
    }
    if len(folds) > 1:
        rec["val_ap_per_fold"] = [round(a, 4) for a in per_fold]
    if models[0].validation_ap is not None:  # the refit model has trained on val
        rec["val_ap_after_refit_not_a_criterion"] = ap4(folds[0].y_val, val_p[:, -1])
        rec["refit_iterations"] = [h.get("refit_iterations") for h in models[0].history]
    if len(models) > 1:  # each seed's own model (fold 0), for the spread
        rec["val_ap_per_seed"] = [ap4(folds[0].y_val, val_p[:, i]) for i in range(len(models))]
        rec["test_ap_per_seed"] = [ap4(test_y, test_p[:, i]) for i in range(len(models))]
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec, Scored([f[1][:, -1] for f in fitted], test_p[:, -1])


def _mix_record(model, members, mix, folds, tried) -> tuple[dict, Scored]:
    score, per_fold = fold_score([f.y_val for f in folds], mix.val)
    rec = {
        "model": model,
        "config": {"mean_of": [r["config"] for r, _ in members]},
        "val_ap": score,
        "test_ap": ap(folds[0].y_test, mix.test),
        "fit_s": round(sum(r["fit_s"] for r, _ in members), 1),
    }
    if len(folds) > 1:
        rec["val_ap_per_fold"] = [round(a, 4) for a in per_fold]
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec, mix


def run_grid(name, make, configs, folds, tried, top_k: int = 1, mixes=()) -> dict:
    """Fit each configuration (fit_config), then score the means of the top k (k = 2..top_k,
    never refit ones: they have trained on the validation rows) and of each group of
    configurations named in `mixes` (indices into configs); the best on validation wins."""
    scored = [fit_config(name, make, c, folds, tried) for c in configs]
    ranked = sorted(
        (t for t in scored if not t[0]["config"].get("refit")), key=lambda t: -t[0]["val_ap"]
    )
    extra = [
        _mix_record(f"{name}_top{k}", ranked[:k], mix, folds, tried)
        for k, mix in top_k_mixes([s for _, s in ranked], top_k)
    ]
    if any(scored[i][0]["config"].get("refit") for g in mixes for i in g):
        raise ValueError(f"--mixes {list(mixes)}: a refit configuration has seen validation")
    for g, mix in zip(mixes, named_mixes([s for _, s in scored], list(mixes)), strict=True):
        extra.append(_mix_record(f"{name}_mix", [scored[i] for i in g], mix, folds, tried))
    return max(scored + extra, key=lambda t: t[0]["val_ap"])[0]  # the first of equals


def refit_chosen(make, best, folds, tried) -> dict:
    """The chosen configuration (each configuration of a chosen mean) fitted again on fold 0
    with "refit": true; the mean of their test probabilities."""
    configs = best["config"].get("mean_of", [best["config"]])
    name = "balanced_bagging_refit"
    fits = [fit_config(name, make, {**c, "refit": True}, folds[:1], tried) for c in configs]
    return {
        "config": fits[0][0]["config"]
        if len(fits) == 1
        else {"mean_of": [r["config"] for r, _ in fits]},
        "val_ap": float(np.mean([r["val_ap"] for r, _ in fits])),
        "test_ap": ap(folds[0].y_test, mean_of([s for _, s in fits]).test),
    }


def _xgb(y_fit: np.ndarray, params: dict):
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=600,
        learning_rate=0.05,
        tree_method="hist",
        scale_pos_weight=float((y_fit == 0).sum() / max(1, (y_fit == 1).sum())),
        eval_metric="aucpr",
        early_stopping_rounds=50,
        n_jobs=2,
        random_state=0,
        **params,
    )


def run_xgboost(arrays, y, ranges, test, configs, tried):
    """Each configuration on every fold (as ours); "time_of_day": true adds the hours."""
    best = None
    for cfg in configs:
        params = {k: v for k, v in cfg.items() if k != "time_of_day"}
        t0, per_fold = time.perf_counter(), []
        for i, ((fit, val), (X, X_hours)) in enumerate(zip(ranges, arrays, strict=True)):
            if cfg.get("time_of_day"):
                if X_hours is None:
                    raise ValueError(f"XGBoost {cfg}: time_of_day with --time-of-day set")
                X = X_hours
            clf = _xgb(y[fit], params)
            clf.fit(X[fit], y[fit], eval_set=[(X[val], y[val])], verbose=False)
            per_fold.append(ap(y[val], clf.predict_proba(X[val])[:, 1]))
            if i == 0:
                rec = {
                    "model": "xgboost",
                    "config": {**cfg, "scale_pos_weight": round(clf.scale_pos_weight, 1)},
                    "test_ap": ap(y[test], clf.predict_proba(X[test])[:, 1]),
                    "best_iterations": [clf.best_iteration],
                }
        rec.update(val_ap=float(np.mean(per_fold)), fit_s=round(time.perf_counter() - t0, 1))
        if len(ranges) > 1:
            rec["val_ap_per_fold"] = [round(a, 4) for a in per_fold]
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
        "val_ap": ap(y[val], clf.predict_proba(X[val])[:, 1]),
        "test_ap": ap(y[test], clf.predict_proba(X[test])[:, 1]),
        "fit_s": round(time.perf_counter() - t0, 1),
    }
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="use only the earliest N rows")
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument(
        "--cv-folds",
        type=int,
        default=1,
        help="time-ordered folds of the training part to choose on (mean validation AP); "
        "1 = the last --val-share block only",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=1,
        help="also try the mean probability of the k best ensemble configurations, k = 2..K",
    )
    parser.add_argument(
        "--time-of-day", action="store_true", help="add the hour of the day (sin, cos) as features"
    )
    parser.add_argument(
        "--transform",
        default="log_amount",
        choices=["log_amount", "signed_log", "quantile"],
        help="feature preparation for every contender (see prepare)",
    )
    parser.add_argument(
        "--mixes",
        type=json.loads,
        default=[],
        help="JSON list of index lists into --ours, e.g. [[0, 3]]: the mean probability of "
        'each group is a candidate too (an --ours configuration with "estimator": "single" '
        "is a DlcoreClassifier)",
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
    for flag, default, what in [
        ("--ours", OURS, "BalancedBaggingClassifier"),
        ("--single", SINGLE, "DlcoreClassifier"),
        ("--xgb", XGB, "XGBoost (max_depth, ..., time_of_day)"),
    ]:
        parser.add_argument(
            flag, type=json.loads, default=default, help=f"JSON list of {what} configurations"
        )
    args = parser.parse_args(argv)
    if args.refit and any(len(c.get("seeds") or []) > 1 for c in args.ours):
        parser.error("--refit needs single-seed --ours configurations (use numRepeats)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    info = machine()
    frame = load(args.rows)
    _, _, test = split(len(frame), args.val_share)
    ranges = time_folds(len(frame), args.val_share, args.cv_folds)
    y = frame["Class"].to_numpy(np.float64)
    tried: list[dict] = []
    out = {
        "rows": len(y),
        "frauds": int(y.sum()),
        "train_rows": ranges[0][0].stop,
        "val_rows": ranges[0][1].stop - ranges[0][1].start,
        "test_rows": len(y) - test.start,
        "test_frauds": int(y[test].sum()),
        "val_frauds": int(y[ranges[0][1]].sum()),
        "transform": args.transform,
        "cv_folds": args.cv_folds,
        "val_frauds_per_fold": [int(y[val].sum()) for _, val in ranges],
        "top_k": args.top_k,
    }

    from fraud_app.ml import DlcoreClassifier

    spark = spark_session("ulb-bench")
    spark.sparkContext.setLogLevel("ERROR")
    folds, arrays = spark_folds(spark, frame, ranges, test, args)
    out["features"] = arrays[0][0].shape[1]
    if "ours" not in args.skip:
        best = run_grid(
            "balanced_bagging", make_ours, args.ours, folds, tried, args.top_k, args.mixes
        )
        out["ulb_time_split_ap"], out["ours_config"] = best["test_ap"], best["config"]
        if args.refit:  # the chosen configuration again, refit on fit + validation rows
            rec = refit_chosen(make_ours, best, folds, tried)
            out["ulb_time_split_ap_no_refit"] = out["ulb_time_split_ap"]
            out["ulb_time_split_ap"], out["ours_config"] = rec["test_ap"], rec["config"]
            if args.cv_folds == 1:
                out["refit_val_ap_matches"] = abs(rec["val_ap"] - best["val_ap"]) < 1e-6
    if "single" not in args.skip:

        def make_single(c):
            return DlcoreClassifier(**{**NET, **COMMON, **c})

        best = run_grid("dlcore_single", make_single, args.single, folds, tried)
        out["ulb_time_split_ap_single"], out["single_config"] = best["test_ap"], best["config"]
    if "overhead" not in args.skip:
        fit_df = folds[0].trainval("features").where("NOT is_val").drop("is_val")
        out.update(overhead(fit_df.cache(), args.repeats, NET))
    spark.stop()
    if "xgboost" not in args.skip:
        best = run_xgboost(arrays, y, ranges, test, args.xgb, tried)
        out["ulb_time_split_ap_xgboost"] = best["test_ap"]
    if "mlp" not in args.skip:
        fit, val = ranges[0]
        out["ulb_time_split_ap_sklearn_mlp"] = run_sklearn_mlp(
            arrays[0][0], y, fit, val, test, tried
        )["test_ap"]
    out["tried"] = tried
    out.update(info, load_avg_1m_end=round(os.getloadavg()[0], 2))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
