"""Benchmark: the product on transaction data that is not ours (issue 10).

Data: bench/foreign_data.py, an independent simulator of the Le Borgne et al. handbook's
design (its column names; ids, timestamp, amount and label only; no label_time, labels
known 7 days after the transaction). The product runs as a user runs it: the `fraud-app`
CLI (`python -m pipelines`) with a config that sets only the paths, the column mapping, the
label delay and the XGBoost baseline (tracking off), then `etl`, `features` with the
shipped specs and `backtest` (4 weekly folds, the default windows). Every WARNING the CLI
logs is kept under "cli_warnings".

Peers in the same run, on the same folds (train + validation with the labels known at the
fold's cut-off, test the fold's test week):
  xgboost_own_features: the backtest's XGBoost baseline on our feature table;
  xgboost_handbook_features: XGBoost (same settings) on the handbook's 15 baseline features
      (bench/_handbook_features.py), so a gap says whether our features or our model is behind.
Figures: ROC AUC, AP, card precision@100 per day (cards = CUSTOMER_ID), mean over folds.

    PYTHONPATH=$PWD:/tmp/xgb python bench/foreign.py --customers 1000 --days 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from _handbook_features import handbook_features  # noqa: E402
from foreign_data import MAPPING, ForeignConfig, simulate  # noqa: E402

DELAY_DAYS = 7
# Ensemble configurations (dotted config keys); "default" = the built-in defaults.
CONFIGS: dict[str, dict[str, Any]] = {"default": {}}


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def user_config(workdir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a user writes for this data: paths, the mapping, the delay; nothing else."""
    base = {
        "paths": {"root": str(workdir / "work")},
        "etl": {"input": str(workdir / "raw"), "columns": MAPPING},
        "features": {"label_delay_days": DELAY_DAYS},
        "backtest": {"baseline": "xgboost"},
        "tracking": {"enabled": False},
    }
    return _merge(base, _nested(overrides))


def _cli(config: Path, *args: str, log: Path) -> tuple[str, list[str]]:
    cmd = [sys.executable, "-m", "pipelines", "-c", str(config), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    log.write_text(proc.stderr)
    warnings = [ln.split(" WARNING ", 1)[1] for ln in proc.stderr.splitlines() if " WARNING " in ln]
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout, warnings


def _labels_known(raw: pd.DataFrame, t: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    known = (t + pd.Timedelta(days=DELAY_DAYS)) <= cutoff
    return (raw["TX_FRAUD"].to_numpy() == 1) & known.to_numpy()


def handbook_peer(raw: pd.DataFrame, folds: list[dict[str, Any]], gbt: dict[str, Any], seed: int):
    """XGBoost on the handbook features, per fold of the backtest report."""
    import xgboost

    from fraud_app.evaluation.ranking import fold_metrics

    feats = handbook_features(raw, DELAY_DAYS)
    names = [c for c in feats.columns if c != "TRANSACTION_ID"]
    t = pd.to_datetime(raw["TX_DATETIME"])
    out = []
    for fold in folds:
        w = {k: pd.Timestamp(v).tz_localize(None) for k, v in fold["windows"].items() if v}
        lo = w.get("train_start", t.min())
        train = ((t >= lo) & (t < w["validation_end"])).to_numpy()
        test = ((t >= w["test_start"]) & (t < w["test_end"])).to_numpy()
        y = _labels_known(raw, t, w["cutoff"])[train].astype(np.float32)
        model = xgboost.XGBClassifier(n_estimators=gbt["max_iter"], max_depth=gbt["max_depth"],
                                      learning_rate=gbt["learning_rate"], tree_method="hist",
                                      n_jobs=2, random_state=seed)  # fmt: skip
        model.fit(feats.loc[train, names].to_numpy(np.float32), y)
        pdf = pd.DataFrame({"card_id": raw.loc[test, "CUSTOMER_ID"].to_numpy(),
                            "timestamp": t[test].to_numpy(),
                            "label": raw.loc[test, "TX_FRAUD"].to_numpy()})  # fmt: skip
        pdf["score"] = model.predict_proba(feats.loc[test, names].to_numpy(np.float32))[:, 1]
        out.append(fold_metrics(pdf, "score", budget=0.01, k=100))
    return out


def _mean(folds: list[dict[str, Any]], metric: str) -> float:
    return round(float(np.nanmean([f[metric] for f in folds])), 4)


def _figures(c: dict[str, Any]) -> dict[str, Any]:
    """One configuration's means over the folds, with its per-fold AP."""
    return {
        "ap_ensemble": _mean(c["ens"], "average_precision"),
        "ap_xgboost_own_features": _mean(c["xgb"], "average_precision"),
        "auc_ensemble": _mean(c["ens"], "roc_auc"),
        "auc_xgboost_own_features": _mean(c["xgb"], "roc_auc"),
        "cp100_ensemble": _mean(c["ens"], "card_precision_at_k"),
        "cp100_xgboost_own_features": _mean(c["xgb"], "card_precision_at_k"),
        "ap_per_fold_ensemble": [round(f["average_precision"], 4) for f in c["ens"]],
        "ap_per_fold_xgboost": [round(f["average_precision"], 4) for f in c["xgb"]],
        "best_iterations": [f["best_iterations"] for f in c["folds"]],
        "leakage_checks_ok": c["leakage_checks_ok"],
        "seconds": c["seconds"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000)
    p.add_argument("--days", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default="/tmp/bench-foreign")
    p.add_argument("--reuse-features", action="store_true",
                   help="skip simulate / etl / features when <workdir> holds them")  # fmt: skip
    p.add_argument("--configs", default="default", help=", ".join(CONFIGS))
    args = p.parse_args()
    workdir, t0, load0 = Path(args.workdir), time.monotonic(), os.getloadavg()[0]
    (workdir / "raw").mkdir(parents=True, exist_ok=True)
    csv = workdir / "raw" / "transactions.csv"
    cfg = ForeignConfig(args.customers, 2 * args.customers, args.days, seed=args.seed)
    warnings: dict[str, list[str]] = {}
    base = workdir / "config.yaml"
    base.write_text(yaml.safe_dump(user_config(workdir, {})))
    if not (args.reuse_features and (workdir / "work" / "features" / "_features.json").exists()):
        simulate(cfg).to_csv(csv, index=False)
        for step in ("etl", "validate", "features"):
            _, warnings[step] = _cli(base, step, log=workdir / f"{step}.log")
    raw = pd.read_csv(csv)
    stats = {"rows": len(raw), "fraud_rate": round(float(raw["TX_FRAUD"].mean()), 5),
             "customers": cfg.customers, "terminals": cfg.terminals, "days": cfg.days}  # fmt: skip
    tried = []
    for name in args.configs.split(","):
        conf = workdir / f"config-{name}.yaml"
        conf.write_text(yaml.safe_dump(user_config(workdir, CONFIGS[name])))
        t1 = time.monotonic()
        out, warnings[f"backtest-{name}"] = _cli(
            conf, "backtest", "--run", f"foreign-{name}", "--json", log=workdir / f"bt-{name}.log"
        )
        report = json.loads(out)
        ens = [f["models"]["ensemble"] for f in report["folds"]]
        xgb = [f["models"]["baseline"] for f in report["folds"]]
        tried.append({"configuration": name, "overrides": CONFIGS[name], "ens": ens, "xgb": xgb,
                      "seconds": round(time.monotonic() - t1, 1),
                      "leakage_checks_ok": report["summary"]["leakage_checks_ok"],
                      "folds": report["folds"]})  # fmt: skip
    hb = handbook_peer(raw, tried[0]["folds"], report["config"]["gbt"], seed=0)
    figures = {c["configuration"]: _figures(c) for c in tried}
    first = figures[tried[0]["configuration"]]
    print(json.dumps({
        "foreign_ap_ensemble_minus_xgboost": round(first["ap_ensemble"] - first["ap_xgboost_own_features"], 4),
        "foreign_ap_ensemble": first["ap_ensemble"],
        "foreign_ap_xgboost_own_features": first["ap_xgboost_own_features"],
        "foreign_ap_xgboost_handbook_features": _mean(hb, "average_precision"),
        "foreign_auc_xgboost_handbook_features": _mean(hb, "roc_auc"),
        "foreign_cp100_ensemble": first["cp100_ensemble"],
        "foreign_cp100_xgboost_own_features": first["cp100_xgboost_own_features"],
        "foreign_cp100_xgboost_handbook_features": _mean(hb, "card_precision_at_k"),
        "ap_per_fold_xgboost_handbook": [round(f["average_precision"], 4) for f in hb],
        "configurations": figures,
        "data": stats,
        "cli_warnings": warnings,
        "seconds": round(time.monotonic() - t0, 1),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_avg_1m_start": round(load0, 2), "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
