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
the benchmark; the estimator's own param for it is numRepeats); with "combine": "logit" its
networks (every member of every seed) are averaged by their logits, not their probabilities
(the networks of an otherwise identical configuration are reused). A configuration with
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
last stdout line is ONE JSON object with all figures. Parts: _ulb_select (folds, fold
score, mixes: pure), _ulb_grid (fitting and choosing ours over the folds), _ulb_peers
(XGBoost, scikit-learn MLP), _ulb_overhead (estimator_overhead_share).

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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _spark_common import machine, spark_session
from _ulb_grid import refit_chosen, run_grid
from _ulb_overhead import overhead
from _ulb_peers import run_sklearn_mlp, run_xgboost
from _ulb_select import hour_of_day, time_folds
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
