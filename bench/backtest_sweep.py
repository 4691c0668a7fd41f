"""Exploration: the backtest's folds replayed in NumPy (no Spark), to compare ensemble
configurations against XGBoost quickly on a feature table written by bench/backtest.py.

It reads `<workdir>/<mode>/features` (parquet), plans the same folds as
fraud_app.evaluation.folds, applies the labels as known at each fold's cut-off, and per
fold trains (a) the ensemble as `fraud-app train` does, but in one process with
dlcore's layers, losses and optimizers: UnionPay subsets (every fraud + a disjoint share
of normals, at most normal_ratio per fraud), Standardize statistics of the whole train
window, early stopping on validation AP every epoch (patience, min_epochs, best weights
restored), then a refit on train + validation with each member's chosen iteration
count; (b) XGBoost on the same rows. Differences from the Spark path: one process
(gradients of the global batch at once, as the all-reduce computes them), subsets drawn
with NumPy's generator instead of row hashes, no learning-rate warm-up.

Input encodings: `"model": {"encoding": "piecewise_linear", "encoding_bins": 8}` uses the
shipped dlcore layer (bins fitted on <= 20,000 rows of the training window, per fold and
again for the refit, as fraud_app.models.train does); `"encode": "ple_aug" | "rankgauss_aug"`
(or without `_aug`: the encoding alone) are NumPy prototypes (bench/_sweep_inputs.py) fitted
per fold the same way;
`"transform"` (run 2's signed log / quantile tries) is fitted on all rows, a shortcut.

Selection is on validation AP only (mean over folds of the members' early-stopping
validation); test AP is reported beside it, and `*_train_only` is the test AP of the
models trained on the train window alone (before the refit), for both models.
`"refit_keep": true` scores the test window with the mean of the train-window members and
the refit ones, `"refit_seeds": n` refits n times with other seeds and subsets and scores
with all members (diagnostics of the refit; validation cannot choose them). With
`"refit_variants"`, `"draws": n` trains n independent draws of the balanced subsets at the
first fit (n x n_subsets members, each refit); `"card_fraction": f` trains both models on
the rows of a share f of the cards (a learning curve on the same test windows); `"drop":
[names]` removes features of the table from both models' inputs; `"min_frauds"` keeps an
indicator column only where the first fit's rows hold enough known frauds with it. Each fold of a
`"refit_variants"` run also reports the members' chosen `passes` and `normal_share`, the share
of the train window's normals the balanced subsets use. Not a benchmark of record (bench/backtest.py
is): a tool to choose what to try there. Prints one JSON line per configuration.

    PYTHONPATH=. python bench/backtest_sweep.py --workdir /tmp/bench-backtest --configs default,long
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _sweep_diagnostics import by_pattern, card_sample, fit_diagnostics, subset_use, without
from _sweep_inputs import fitted_transform, transform

from dlcore.metrics import average_precision
from dlcore.training.trainer import Trainer, TrainerConfig
from fraud_app.evaluation.config import BacktestSection
from fraud_app.evaluation.folds import plan_folds
from fraud_app.models.builders import build_loss, build_model, build_optimizer
from fraud_app.models.config import LossSection, ModelSection, OptimizerSection
from fraud_app.models.train import encoding_state, set_encoding

DAY_US = 86_400 * 1_000_000


def load(path: Path, delay_days: float) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    cols = ["timestamp", "label", "card_id", "features", "transaction_id", "fraud_pattern"]
    table = pq.read_table(path, columns=cols + (["label_time"] if _has(path, "label_time") else []))
    ts = (
        table["timestamp"]
        .cast("timestamp[us]")
        .to_numpy()
        .astype("datetime64[us]")
        .astype(np.int64)
    )
    known = ts + int(delay_days * DAY_US)
    if "label_time" in table.column_names:
        lt = table["label_time"].cast("timestamp[us]").to_numpy(zero_copy_only=False)
        lt = lt.astype("datetime64[us]")
        has = ~np.isnat(lt)
        known = np.where(has, lt.astype(np.int64), known)
    X = np.stack(table["features"].to_numpy(zero_copy_only=False)).astype(np.float32)
    order = np.argsort(ts, kind="stable")
    data = {
        "X": X,
        "y": table["label"].to_numpy(zero_copy_only=False).astype(np.float32),
        "ts": ts,
        "known": known,
        "card": table["card_id"].to_numpy(zero_copy_only=False),
        "tid": table["transaction_id"].to_numpy(zero_copy_only=False),
        "pattern": table["fraud_pattern"].to_numpy(zero_copy_only=False),
    }
    out = {k: v[order] for k, v in data.items()}
    meta = path / "_features.json"
    if meta.exists():
        out["names"] = json.loads(meta.read_text())["feature_names"]
    return out


def _has(path: Path, column: str) -> bool:
    import pyarrow.parquet as pq

    return column in pq.read_schema(next(path.rglob("*.parquet"))).names


def fold_indices(data, delay_days: float, train_days: float) -> list[dict[str, Any]]:
    cfg = BacktestSection(folds=4, step_days=7, train_days=train_days, validation_days=7,
                          test_days=7)  # fmt: skip
    last = dt.datetime.fromtimestamp(data["ts"].max() / 1e6, dt.UTC).date()
    out = []
    for fold in plan_folds(cfg, label_delay_days=delay_days, data_end=last + dt.timedelta(1)):

        def rows(lo, hi):
            lo_us = -(2**62) if lo is None else int(lo.timestamp() * 1e6)
            return np.flatnonzero((data["ts"] >= lo_us) & (data["ts"] < int(hi.timestamp() * 1e6)))

        cut = int(fold.cutoff.timestamp() * 1e6)
        y_known = np.where((data["y"] == 1) & (data["known"] <= cut), 1.0, 0.0).astype(np.float32)
        out.append({"train": rows(*fold.train), "validation": rows(*fold.validation),
                    "test": rows(*fold.test), "y_known": y_known})  # fmt: skip
    return out


def subsets(y: np.ndarray, k: int, ratio: float | None, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frauds, normals = np.flatnonzero(y == 1), rng.permutation(np.flatnonzero(y == 0))
    shares = np.array_split(normals, k)
    cap = None if ratio is None else int(np.ceil(ratio * len(frauds)))
    return [np.concatenate([frauds, s if cap is None else s[:cap]]) for s in shares]


def _model(cfg: dict[str, Any], X_stats: np.ndarray, seed: int):
    model = build_model(ModelSection(**cfg.get("model", {})), X_stats.shape[1], seed)
    model.layer.layers[0].set_statistics(X_stats.mean(0), X_stats.std(0))
    # the input encoding's bins: as fraud_app.models.train, from <= 20,000 training rows
    pick = np.random.default_rng(0).permutation(len(X_stats))[:20_000]
    set_encoding(model, encoding_state(model, X_stats[np.sort(pick)]))
    return model


def train_member(cfg, X, y, stats_X, seed, val=None, iterations=None):
    """Early stopping on `val` (returns best iteration count) or exactly `iterations`."""
    model = _model(cfg, stats_X, seed)
    bs = cfg.get("batch", 256)
    opt = dict(cfg.get("optimizer", {}))  # the linear scaling rule (scale_lr, base 256)
    opt["learning_rate"] = opt.get("learning_rate", 1e-3) * bs / 256
    trainer = Trainer(model, build_loss(LossSection(**cfg.get("loss", {}))),
                      build_optimizer(OptimizerSection(**opt)),
                      TrainerConfig(epochs=1, batch_size=bs, seed=seed))  # fmt: skip
    per_epoch = int(np.ceil(len(X) / bs))
    if iterations is not None:
        epochs = int(np.ceil(iterations / per_epoch))
        for _ in range(epochs):
            trainer._run_epoch(*trainer._check_data(X, y, None))
        return model, iterations, None
    best = (-1.0, 0, model.params.data.copy())
    waited, max_epochs = 0, cfg.get("epochs", 8)
    for epoch in range(1, max_epochs + 1):
        trainer._run_epoch(*trainer._check_data(X, y, None))
        if epoch < cfg.get("min_epochs", 3):
            continue
        ap = average_precision(val[1], model.predict(val[0]).reshape(-1))
        if ap > best[0]:
            best, waited = (ap, epoch * per_epoch, model.params.data.copy()), 0
        else:
            waited += 1
            if waited >= cfg.get("patience", 3):
                break
    model.params.data[...] = best[2]
    return model, best[1], best[0]


def ensemble_scores(cfg, X, y, X_stats, seed, val=None, iterations=None, parts_out=None):
    bal = cfg.get("balancing", {})
    parts = subsets(y, bal.get("n_subsets", 2), bal.get("normal_ratio", 20), seed + 42)
    if parts_out is not None:
        parts_out.extend(parts)
    models, its, vals = [], [], []
    for i, idx in enumerate(parts):
        m, it, v = train_member(cfg, X[idx], y[idx], X_stats, seed + i, val,
                                None if iterations is None else iterations[i])  # fmt: skip
        models.append(m)
        its.append(it)
        vals.append(v)
    return models, its, vals


def first_fit(cfg, X, y, X_stats, s0: int, val):
    """The early-stopped ensemble. `"draws": n`: n independent draws of the balanced subsets
    (draw r: seed s0 + 100 r for its subsets and members, as the Spark ML estimator's
    numRepeats), every member of every draw; returns (members, their chosen iteration counts,
    each draw's subsets)."""
    models, its, draws = [], [], []
    for r in range(cfg.get("draws", 1)):
        parts: list[np.ndarray] = []
        m, i, _ = ensemble_scores(cfg, X, y, X_stats, s0 + 100 * r, val, parts_out=parts)
        models, its = models + m, its + i
        draws.append(parts)
    return models, its, draws


def grown_subsets(cfg, parts, y_new: np.ndarray, offset: int, seed: int) -> list[np.ndarray]:
    """The refit's subsets as the product's row-hash balancing gives them: a row keeps its
    subset, so subset k of train + validation = subset k of the train window + the
    validation window's frauds + a share of its normals (offset: where its rows start)."""
    bal = cfg.get("balancing", {})
    extra = subsets(y_new, len(parts), bal.get("normal_ratio", 20), seed + 43)
    return [np.concatenate([p, offset + e]) for p, e in zip(parts, extra, strict=True)]


def continue_member(cfg, model0, X, y, seed: int, spec: dict[str, Any], chosen: int):
    """Warm start: a copy of `model0` (its best weights, its Standardize statistics and
    encoding bins) trained on (X, y) with a FRESH optimizer for `passes` passes (or
    `fraction` of the chosen iteration count), learning rate * lr_scale, constant or
    cosine-decayed to 0; "swa": the mean of the weights at the end of each pass."""
    from dlcore.model import Model
    from dlcore.schedules import Constant, CosineDecay

    model = Model.from_config(model0.get_config())
    model.load_weights(model0.params.data.copy(), model0.layer.state())
    bs = cfg.get("batch", 256)
    per_epoch = int(np.ceil(len(X) / bs))
    if "fraction" in spec:
        n_it = max(1, round(spec["fraction"] * chosen))
    else:
        n_it = max(1, round(spec.get("passes", 1) * per_epoch))
    opt = dict(cfg.get("optimizer", {}))
    lr = opt.get("learning_rate", 1e-3) * bs / 256 * spec.get("lr_scale", 1.0)
    optimizer = build_optimizer(OptimizerSection(**opt))
    optimizer.learning_rate = (
        CosineDecay(lr, n_it) if spec.get("decay") == "cosine" else Constant(lr)
    )
    trainer = Trainer(model, build_loss(LossSection(**cfg.get("loss", {}))), optimizer,
                      TrainerConfig(epochs=1, batch_size=bs, seed=seed))  # fmt: skip
    Xc, yc, _ = trainer._check_data(X, y, None)
    rng, done, snaps = np.random.default_rng(seed), 0, []
    while done < n_it:
        perm = rng.permutation(len(Xc))
        for i in range(0, len(Xc), bs):
            if done == n_it:
                break
            trainer.train_step(Xc[perm[i : i + bs]], yc[perm[i : i + bs]])
            done += 1
        snaps.append(model.params.data.copy())
    if spec.get("swa"):
        model.params.data[...] = np.mean(snaps, axis=0)
    return model, n_it


def refit_variant(cfg, spec, X, yk, tr, va, first, its, draws):
    """One refit method on train (tr) + validation (va); returns the members (draws: each
    draw's subsets, `first_fit`).
    spec "by": "fresh" (each member from a fresh initialisation for its chosen count, or
    the count scaled by rows with "epochs": true; "seeds": n refits), "warm"
    (continue_member from the first fit's members), "none" (the first fit's members)."""
    by = spec.get("by", "fresh")
    if by == "none":
        return first, its
    used = np.concatenate([tr, va])
    if by == "fresh":
        if len(draws) > 1:
            raise ValueError("the fresh refit of several draws is not implemented")
        counts = its
        if spec.get("epochs"):
            counts = [round(i * len(used) / len(tr)) for i in its]
        models = []
        for seed in range(0, 100 * spec.get("seeds", 1), 100):
            models += ensemble_scores(cfg, X[used], yk[used], X[used], seed, iterations=counts)[0]
        return models, counts
    grown = [g for r, parts in enumerate(draws)
             for g in grown_subsets(cfg, parts, yk[va], len(tr), 100 * r)]  # fmt: skip
    Xu, yu = X[used], yk[used]
    out = [continue_member(cfg, m, Xu[g], yu[g], 1000 + k, spec, its[k])
           for k, (m, g) in enumerate(zip(first, grown, strict=True))]  # fmt: skip
    return [m for m, _ in out], [n for _, n in out]


def run_variants(name, cfg, data, folds, with_xgb: bool, extra=None) -> dict[str, Any]:
    """Several refit methods after ONE first fit per fold (the first fit is the same for all).
    With "inner": true, the choice is also made honestly inside each fold: first fit on the
    train window less its last 7 days, early stopping on those 7 days, each refit method on
    the whole train window, scored on the validation window (never on test)."""
    X_all = with_extra(cfg, without(cfg, data), extra)
    # the pl8 configurations encode inside the model (no "encode"/"transform")
    names = column_names(cfg, data, extra)
    variants = cfg["refit_variants"]
    s0 = cfg.get("first_seed", 0)  # the first fit's seed (a replicate of the whole comparison)
    res = {"config": name, "cfg": cfg, "features": X_all.shape[1], "folds": []}
    keep = card_sample(data["card"], cfg.get("card_fraction"))
    for f in folds:
        tr, va, te, yk = keep(f["train"]), keep(f["validation"]), f["test"], f["y_known"]
        t0 = time.monotonic()
        fold: dict[str, Any] = {"test_frauds": int(data["y"][te].sum()), "train_rows": len(tr)}
        if cfg.get("inner"):
            cut = data["ts"][tr].max() - 7 * DAY_US
            itr, iva = tr[data["ts"][tr] < cut], tr[data["ts"][tr] >= cut]
            X = X_all[:, min_frauds_columns(cfg, names, X_all, yk, itr)]
            first, its, draws = first_fit(cfg, X[itr], yk[itr], X[itr], s0, (X[iva], yk[iva]))
            fold["inner_iterations"] = its
            for v, spec in variants.items():
                models, _ = refit_variant(cfg, spec, X, yk, itr, iva, first, its, draws)
                fold[f"inner_{v}"] = round(
                    float(average_precision(yk[va], predict(models, X[va]))), 4
                )
        cols = min_frauds_columns(cfg, names, X_all, yk, tr)
        X = X_raw = X_all[:, cols]  # the same columns for both models
        fold["columns"] = int(cols.sum())
        first, its, draws = first_fit(cfg, X[tr], yk[tr], X[tr], s0, (X[va], yk[va]))
        fold["val_ap"] = round(float(average_precision(yk[va], predict(first, X[va]))), 4)
        fold["iterations"] = its
        fold.update(subset_use(its, [p for d in draws for p in d], yk[tr], cfg.get("batch", 256)))
        used, shipped = np.concatenate([tr, va]), None
        for v, spec in variants.items():
            t1 = time.monotonic()
            models, counts = refit_variant(cfg, spec, X, yk, tr, va, first, its, draws)
            scores = predict(models, X[te])
            fold[f"test_{v}"] = round(float(average_precision(data["y"][te], scores)), 4)
            fold[f"its_{v}"] = counts
            fold[f"s_{v}"] = round(time.monotonic() - t1, 1)
            if shipped is None:  # the first variant: diagnostics below
                shipped = (scores, predict(models, X[used]))
        if with_xgb:
            xgb = xgb_model(X_raw[used], yk[used], 0)
            xgb_test = xgb.predict_proba(X_raw[te])[:, 1]
            fold["xgb_test_ap"] = round(float(average_precision(data["y"][te], xgb_test)), 4)
            fit_diagnostics(fold, data, te, yk[used], shipped, xgb_test,
                            xgb.predict_proba(X_raw[used])[:, 1])  # fmt: skip
        fold["s"] = round(time.monotonic() - t0, 1)
        res["folds"].append(fold)
        print(json.dumps({"fold": fold}), flush=True)
    keys = [k for k in res["folds"][0]
            if k.startswith(("inner_", "test_", "val_", "xgb_", "fit_"))
            and k not in ("inner_iterations", "test_frauds", "test_by_pattern",
                         "test_precision_at")]  # fmt: skip
    for key in keys:
        res[f"mean_{key}"] = round(float(np.mean([f[key] for f in res["folds"]])), 4)
    if with_xgb:
        for v in variants:
            res[f"diff_{v}"] = round(res[f"mean_test_{v}"] - res["mean_xgb_test_ap"], 4)
    return res


def predict(models, X) -> np.ndarray:
    from dlcore.losses import sigmoid

    return np.mean([sigmoid(m.predict(X).reshape(-1).astype(np.float64)) for m in models], axis=0)


def xgb_model(X, y, seed, params=None):
    import xgboost

    p = {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, **(params or {})}
    model = xgboost.XGBClassifier(tree_method="hist", n_jobs=2, random_state=seed, **p)
    model.fit(X, y)
    return model


def xgb_scores(X, y, X_test, seed, params=None):
    return xgb_model(X, y, seed, params).predict_proba(X_test)[:, 1]


def run_config(name, cfg, data, folds, with_xgb: bool, extra=None) -> dict[str, Any]:
    X_raw = with_extra(cfg, without(cfg, data), extra)  # the feature vector of BOTH models
    X = transform(cfg, X_raw)
    res = {"config": name, "cfg": cfg, "features": X.shape[1], "folds": []}
    for f in folds:
        tr, va, te, yk = f["train"], f["validation"], f["test"], f["y_known"]
        t0 = time.monotonic()
        enc = fitted_transform(cfg, X[tr])  # fitted on the training window only
        models, its, vals = ensemble_scores(cfg, enc(X[tr]), yk[tr], enc(X[tr]), 0,
                                            (enc(X[va]), yk[va]))  # fmt: skip
        val_scores = predict(models, enc(X[va]))
        val_ens = average_precision(yk[va], val_scores)
        # the train-window models on the test window too (no refit): where the gap opens
        test_scores = predict(models, enc(X[te]))
        test_train_only = average_precision(data["y"][te], test_scores)
        used = np.concatenate([tr, va])
        # "refit_keep": the train-window members scored beside the refit ones (mean)
        kept = test_scores if cfg.get("refit", True) and cfg.get("refit_keep") else None
        if cfg.get("refit", True):
            if cfg.get("refit_by") == "epochs":  # same passes over the larger refit data
                its = [round(i * len(used) / len(tr)) for i in its]
            enc = fitted_transform(cfg, X[used])  # the refit's window
            Xu = enc(X[used])
            models = []  # "refit_seeds": n refits (other seeds, other subsets), all scored
            for seed in range(0, 100 * cfg.get("refit_seeds", 1), 100):
                models += ensemble_scores(cfg, Xu, yk[used], Xu, seed, iterations=its)[0]
        scores = predict(models, enc(X[te]))
        if kept is not None:
            scores = (scores + kept) / 2
        test_ap = average_precision(data["y"][te], scores)
        fold = {"val_ap": round(float(val_ens), 4), "test_ap": round(float(test_ap), 4),
                "test_ap_train_only": round(float(test_train_only), 4),
                "iterations": its, "test_frauds": int(data["y"][te].sum()),
                "train_frauds": int(yk[tr].sum()), "s": round(time.monotonic() - t0, 1)}  # fmt: skip
        if with_xgb:
            fold["xgb_test_ap"] = round(float(average_precision(
                data["y"][te], xgb_scores(X_raw[used], yk[used], X_raw[te], 0))), 4)  # fmt: skip
            both = xgb_scores(X_raw[tr], yk[tr], X_raw[np.concatenate([va, te])], 0)
            xgb_val, xgb_test = both[: len(va)], both[len(va) :]
            fold["xgb_val_ap"] = round(float(average_precision(yk[va], xgb_val)), 4)
            fold["xgb_test_ap_train_only"] = round(
                float(average_precision(data["y"][te], xgb_test)), 4
            )
            fold["val_by_pattern"] = by_pattern(yk[va], data["pattern"][va], val_scores, xgb_val)
        res["folds"].append(fold)
    for key in ("val_ap", "test_ap", "xgb_test_ap", "xgb_val_ap", "test_ap_train_only",
                "xgb_test_ap_train_only"):  # fmt: skip
        vals = [f[key] for f in res["folds"] if key in f]
        if vals:
            res[f"mean_{key}"] = round(float(np.mean(vals)), 4)
    return res


def column_names(cfg, data, extra) -> list[str]:
    """The names of `with_extra(cfg, without(cfg, data), extra)`'s columns."""
    drop = set(cfg.get("drop", []))
    names = [n for n in data.get("names", []) if n not in drop]
    wanted = cfg.get("extra", [])
    return names + [c for c in (extra if wanted else [])
                    if any(c == n or (n.endswith("*") and c.startswith(n[:-1])) for n in wanted)]  # fmt: skip


def min_frauds_columns(cfg, names, X, yk, rows) -> np.ndarray:
    """`"min_frauds": {"columns": [glob], "n": N}`: a column matching a glob (0/1 indicators,
    e.g. one-hot categories) is kept only when the rows the first fit trains on hold at least
    N known frauds with it set; every other column is kept. Returns the column mask."""
    import fnmatch

    rule = cfg.get("min_frauds")
    keep = np.ones(X.shape[1], dtype=bool)
    if not rule:
        return keep
    if len(names) != X.shape[1]:
        raise ValueError("min_frauds needs the feature names of every column")
    counts = (X[rows] * yk[rows, None]).sum(axis=0)
    for i, n in enumerate(names):
        if any(fnmatch.fnmatch(n, g) for g in rule["columns"]):
            keep[i] = counts[i] >= rule["n"]
    return keep


def with_extra(cfg, X: np.ndarray, extra) -> np.ndarray:
    """X plus the candidate columns the configuration names (`"extra": [names]`)."""
    names = cfg.get("extra", [])
    if not names:
        return X
    cols = [c for c in extra if any(c == n or (n.endswith("*") and c.startswith(n[:-1]))
                                    for n in names)]  # fmt: skip
    return np.hstack([X, extra[cols].to_numpy(np.float32)])


CONFIGS: dict[str, dict[str, Any]] = {
    "default": {"balancing": {"n_subsets": 2}, "model": {"hidden": [64, 32]}, "epochs": 8},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", default="/tmp/bench-backtest")
    p.add_argument("--modes", default="label_time,delay_only")
    p.add_argument("--configs", default="default")
    p.add_argument("--config-json", default=None, help="extra configurations: JSON {name: cfg}")
    p.add_argument("--train-days", type=float, default=21)
    p.add_argument("--no-xgb", action="store_true")
    p.add_argument("--xgb-all", action="store_true", help="XGBoost for every configuration")
    p.add_argument(
        "--extra",
        default=None,
        help="candidates.parquet of bench/backtest_candidates.py (`extra` columns)",
    )
    args = p.parse_args()
    configs = dict(CONFIGS)
    if args.config_json:
        configs.update(json.loads(Path(args.config_json).read_text()))
    for mode in args.modes.split(","):
        data = load(Path(args.workdir) / mode / "features", 7)
        folds = fold_indices(data, 7, args.train_days)
        extra = None if not args.extra else _extra(args.extra, data["tid"])
        for i, name in enumerate(args.configs.split(",")):
            xgb = not args.no_xgb and (i == 0 or args.xgb_all)
            run = run_variants if "refit_variants" in configs[name] else run_config
            res = run(name, configs[name], data, folds, with_xgb=xgb, extra=extra)
            print(json.dumps({"mode": mode, **res}), flush=True)


def _extra(path: str, tid: np.ndarray):
    import pandas as pd

    table = pd.read_parquet(path).set_index("transaction_id")
    out = table.reindex(tid)
    if out.isna().any().any():
        raise ValueError(f"{path} lacks rows of the feature table: regenerate it")
    return out.reset_index(drop=True)


if __name__ == "__main__":
    main()
