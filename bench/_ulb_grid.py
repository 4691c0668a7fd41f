"""Fitting and choosing ours in bench/ulb.py: each configuration on every time-ordered fold,
the top-k means and named mixes, and the refit of the chosen one (driver + Spark).

Owns the Spark side of the selection protocol of bench/ulb.py (the pure parts are in
_ulb_select): scoring fitted models on a fold's validation and test rows in one aligned
order (`mean_scores`), recording every configuration tried with its fold scores, and
picking the best by the mean validation AP over the folds (never by test AP).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from _ulb_select import Scored, ap, fold_score, mean_of, named_mixes, top_k_mixes


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


def combined_scores(models, df, combine: str) -> tuple[np.ndarray, np.ndarray]:
    """mean_scores of the models ("probability": their mean probability in the last column)
    or, with "logit", of every member of every model, the last column replaced by the mean
    of the members' logits (the same networks, another way to average them)."""
    if combine == "probability":
        return mean_scores(models, df)
    if combine != "logit":
        raise ValueError(f'"combine" must be "probability" or "logit", got {combine!r}')
    members = [m for model in models for m in getattr(model, "members", [model])]
    P, y = mean_scores(members, df)
    q = np.clip(P[:, :-1], 1e-15, 1 - 1e-15)
    P[:, -1] = 1.0 / (1.0 + np.exp(-np.mean(np.log(q) - np.log1p(-q), axis=1)))
    return P, y


def fit_fold(make, params, seeds, fold, combine="probability", cache=None):
    """(models, P on the fold's validation rows, the validation AP it is chosen on). `cache`
    (a dict) keeps the fitted models of each (params, seeds, fold), so a configuration that
    differs only in "combine" scores the same networks instead of fitting them again."""
    col = params.get("featuresCol", "features")
    key = (json.dumps(params, sort_keys=True), tuple(seeds), id(fold))
    models = None if cache is None else cache.get(key)
    if models is None:
        models = [make({**params, "seed": s}).fit(fold.trainval(col)) for s in seeds]
        if cache is not None:
            cache[key] = models
    val_p, val_y = combined_scores(models, fold.val_df(col), combine)
    if fold.y_val is None:
        fold.y_val = val_y
    elif not np.array_equal(val_y, fold.y_val):
        raise RuntimeError("validation rows came back in another order than the first model's")
    before_refit = models[0].validation_ap
    return models, val_p, ap(val_y, val_p[:, -1]) if before_refit is None else before_refit


def fit_config(name, make, cfg, folds, tried, cache=None) -> tuple[dict, Scored]:
    """Fit one configuration on every fold and record its validation score (the mean of
    the folds' validation APs) and test AP (fold 0's model). With "seeds": [s1, ...] one
    model per seed, scored by the mean of their probabilities. With "refit": true the
    validation AP is each model's `validation_ap` (before the refit). With "combine":
    "logit" the networks (every member of every seed) are averaged by their logits instead
    of their probabilities (the benchmark does it; `cache`: see fit_fold)."""
    params = {k: v for k, v in cfg.items() if k not in ("seeds", "combine")}
    seeds = cfg.get("seeds") or [params.pop("seed", 0)]
    combine = cfg.get("combine", "probability")
    if params.get("refit") and (len(seeds) > 1 or combine != "probability"):
        raise ValueError(f"{cfg}: refit with several seeds or a combine: use numRepeats instead")
    t0 = time.perf_counter()
    fitted = [fit_fold(make, params, seeds, fold, combine, cache) for fold in folds]
    secs = time.perf_counter() - t0
    models, val_p, _ = fitted[0]
    test_df = folds[0].test_df(params.get("featuresCol", "features"))
    test_p, test_y = combined_scores(models, test_df, combine)
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
    if len(models) > 1 and combine == "probability":  # each seed's model (fold 0): spread
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
    cache: dict = {}  # configurations differing only in "combine" share their networks
    scored = [fit_config(name, make, c, folds, tried, cache) for c in configs]
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
