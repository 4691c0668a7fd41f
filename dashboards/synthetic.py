"""Synthetic saved files that follow the contracts (C2-C6, validation, ETL), for the fast
tests and the benchmark: a run of `members` ensemble members and `scored_days` scoring
dates, without Spark. Not used by the pages themselves.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dashboards.sources import Sources

PATTERNS = ("compromised_merchant", "stolen_card", "card_testing", "account_takeover")


@dataclass(frozen=True)
class SyntheticRun:
    run: str = "synthetic"
    members: int = 5
    groups: int = 40
    scored_days: int = 60
    test_rows: int = 20_000
    features: int = 35
    seed: int = 0


def sources_for(root: Path) -> Sources:
    """The app's default layout under `root` (paths.* relative to paths.root)."""
    return Sources(
        reports=root / "reports", output=root / "reports" / "dashboards",
        scores=root / "test-scores", canonical=root / "canonical", quarantine=root / "quarantine",
        features=root / "features", models=root / "models",
    )  # fmt: skip


def _dump(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _history(rng: np.random.Generator, groups: int) -> list[dict]:
    out = []
    for g in range(groups):
        wall = float(rng.uniform(0.5, 1.5)) + (2.0 if g % 10 == 0 else 0.0)
        sched = (2.0 if g % 10 == 0 else 0.05) / wall
        compute = float(rng.uniform(0.5, 0.7)) * (1 - sched)
        out.append({
            "group": g, "start_iteration": g * 20, "end_iteration": (g + 1) * 20,
            "iterations": 20, "loss": 0.6 * np.exp(-g / 15) + 0.05 * float(rng.random()),
            "wall_s": wall, "samples_per_s": 20 * 512 / wall, "compute_share": compute,
            "sync_share": (1 - sched - compute) * 0.8, "scheduling_share": sched,
            "loop_s": wall * (1 - sched), "stage_start": g % 10 == 0,
        })  # fmt: skip
    return out


def _members(spec: SyntheticRun, rng: np.random.Generator) -> list[dict]:
    members = []
    for i in range(spec.members):
        hist = _history(rng, spec.groups)
        epochs = spec.groups * 20 * 512 / 40_000
        validation = [
            {"epoch": e, "iteration": int(e * 40_000 / 512),
             "average_precision": 0.3 + 0.4 * (1 - np.exp(-e / 3)) + 0.02 * float(rng.random())}
            for e in range(1, int(epochs) + 1)
        ]  # fmt: skip
        member = {"iterations": spec.groups * 20, "retries": 0, "rows": 40_000,
                  "history": hist, "validation": validation,
                  "best_iteration": validation[-1]["iteration"] if validation else None}  # fmt: skip
        if i == 1:  # one stage failed and was retried
            member.update(retries=1, failures=[f"round 3 (group {spec.groups // 2}): lost task"])
        members.append(member)
    return members


def _scores(spec: SyntheticRun, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    n = spec.test_rows
    label = (rng.random(n) < 0.01).astype(np.int32)
    start = pd.Timestamp("2024-02-25", tz="UTC")
    df = pd.DataFrame({
        "transaction_id": [f"T{i:08d}" for i in range(n)],
        "card_id": [f"C{v:05d}" for v in rng.integers(0, n // 5, n)],
        "timestamp": start + pd.to_timedelta(np.sort(rng.uniform(0, 5 * 86400, n)), unit="s"),
        "label": label,
    })  # fmt: skip

    def probs(strength: float) -> np.ndarray:
        z = rng.normal(-4 + strength * label, 1.2)
        return (1 / (1 + np.exp(-z))).astype(np.float32)

    df["fraud_score"] = probs(3.5)
    for i in range(spec.members):
        df[f"member_{i:02d}"] = probs(3.0)
    df["baseline_logreg"], df["baseline_gbt"] = probs(2.0), probs(2.8)
    fraud = label == 1
    patterns = np.where(fraud, rng.choice(PATTERNS, n), None)
    return df, [p for p in patterns if p is not None]


def _metrics(df: pd.DataFrame) -> dict:
    return {"rows": len(df), "frauds": int(df["label"].sum()), "roc_auc": 0.95,
            "average_precision": 0.6}  # fmt: skip


def _reference(spec: SyntheticRun, rng: np.random.Generator) -> dict:
    edges = [[float(v) for v in np.linspace(0, 1, 11)] for _ in range(spec.features)]
    props = [[0.1] * 10 for _ in range(spec.features)]
    return {"feature_edges": edges, "feature_props": props,
            "score_edges": [float(v) for v in np.linspace(0, 1, 11)], "score_props": [0.1] * 10}  # fmt: skip


def _scored_date(day: int, names: list[str], rng: np.random.Generator) -> dict:
    rows = int(rng.integers(3_000, 5_000))
    features = {}
    for j, name in enumerate(names):
        drift = 0.0 if j % 7 else day / 60  # every 7th feature drifts over time
        p = np.full(10, 0.1) + drift * np.linspace(-0.08, 0.08, 10)
        counts = rng.multinomial(rows, p / p.sum())
        features[name] = {"mean": float(rng.random()), "q05": 0.0, "q50": 0.5, "q95": 1.0,
                          "counts": [int(c) for c in counts]}  # fmt: skip
    score_counts = rng.multinomial(rows, [0.1] * 10)
    date = dt.date(2024, 3, 1) + dt.timedelta(days=day)
    return {"date": date.isoformat(), "rows": rows, "alerts": int(rows * 0.01),
            "mean_score": 0.02 + 0.001 * day, "score_counts": [int(c) for c in score_counts],
            "features": features}  # fmt: skip


def write_run(root: Path, spec: SyntheticRun = SyntheticRun()) -> Sources:
    """Write every input file of one run under `root`; returns its Sources."""
    rng = np.random.default_rng(spec.seed)
    src = sources_for(root)
    names = [f"feature_{j:02d}" for j in range(spec.features)]
    model_dir = src.models / spec.run
    df, patterns = _scores(spec, rng)
    (src.scores / spec.run).mkdir(parents=True, exist_ok=True)
    df.to_parquet(src.scores / spec.run / "part-00000.parquet", index=False)
    reference = _reference(spec, rng)
    _dump(model_dir / "ensemble.json", {"metadata": {"scoring": {
        "alert_budget": 0.01, "threshold": 0.2, "feature_means": [0.5] * spec.features,
        "reference": reference}}})  # fmt: skip
    _dump(src.reports / f"training-{spec.run}.json", _training(spec, rng, names, df, model_dir))
    _dump(src.reports / f"evaluation-{spec.run}-test.json", _evaluation(df, patterns, model_dir))
    dates = [_scored_date(d, names, rng) for d in range(spec.scored_days)]
    for k, part in enumerate((dates[: len(dates) // 2], dates[len(dates) // 2 :])):
        _dump(src.reports / f"scoring-job{k}.json", {
            "job_id": f"job{k}", "model_uri": str(model_dir), "model_name": None,
            "model_version": None, "threshold": 0.2, "created_at": f"2024-05-0{k + 1}T00:00:00Z",
            "dates": part, "reference": reference, "feature_names": names})  # fmt: skip
    _data_files(src, rng)
    return src


def _training(spec, rng, names, df, model_dir) -> dict:
    return {
        "run": spec.run, "model_path": str(model_dir), "feature_names": names,
        "splits": {"gap_days": 7, "windows": {
            "train": {"rows": 200_000, "frauds": 2_000}, "validation": {"rows": 20_000, "frauds": 190},
            "test": {"rows": len(df), "frauds": int(df["label"].sum())}}},
        "balancing": {"strategy": "unionpay_subsets",
                      "subsets": [{"frauds": 2_000, "normals": 38_000}] * spec.members},
        "members": _members(spec, rng), "training_seconds": 321.0, "total_seconds": 400.0,
        "metrics": {"validation": _metrics(df), "test": _metrics(df)},
        "baselines": {"logreg": {"validation": {}, "test": {"average_precision": 0.4}}},
        "registry": {"name": "fraud", "version": 3, "decision": "champion", "margin": 0.005,
                     "new_ap": 0.61, "champion_ap": 0.58, "champion_version": 2,
                     "window": {"start": "2024-02-13", "end": "2024-02-18"}},
    }  # fmt: skip


def _evaluation(df: pd.DataFrame, patterns: list[str], model_dir: Path) -> dict:
    days = sorted(df["timestamp"].dt.strftime("%Y-%m-%d").unique())
    return {
        "model_uri": str(model_dir), "window": {"start": days[0], "end": days[-1]},
        **_metrics(df),
        "alert_budgets": [{"budget": b, "alerts_per_day": b * len(df) / 5, "threshold": 0.3,
                           "precision": 0.5, "recall": 0.6} for b in (0.005, 0.01, 0.02)],
        "card_precision_at_k": {"k": 100, "per_day": [{"date": d, "precision": 0.3} for d in days],
                                "mean": 0.3},
        "pattern_recall": {p: 0.5 + 0.1 * i for i, p in enumerate(sorted(set(patterns)))},
        "model_threshold": {"threshold": 0.31, "alerts": 60, "alerts_per_day": 12.0,
                            "alerts_per_day_min": 9, "alerts_per_day_max": 15,
                            "precision": 0.45, "recall": 0.55},
    }  # fmt: skip


def _data_files(src: Sources, rng: np.random.Generator) -> None:
    results = [
        {"name": f"col_{i}:not_null", "expectation": "ExpectColumnValuesToNotBeNull",
         "column": f"col_{i}", "severity": "warning" if i == 0 else "error", "success": i != 0,
         "observed": None, "unexpected_count": 3 if i == 0 else 0,
         "unexpected_percent": 0.01 if i == 0 else 0.0, "examples": [], "error": None}
        for i in range(12)
    ]  # fmt: skip
    _dump(src.reports / "canonical_validation-20240301T000000Z.json", {
        "suite": "canonical", "table": str(src.canonical), "checked_at": "2024-03-01T00:00:00+00:00",
        "results": results, "success": True, "n_errors": 0, "n_warnings": 1})  # fmt: skip
    _dump(src.canonical / "_etl_report.json", {
        "input_rows": 300_030, "output_rows": 300_000, "quarantine_rows": 20,
        "duplicate_rows": 10, "quarantine_by_reason": {"non_positive_amount": 12,
                                                       "unparseable_timestamp": 8}})  # fmt: skip
    for day in range(60):
        date = (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()
        n = int(rng.integers(4_000, 6_000))
        part = src.canonical / f"event_date={date}"
        part.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"label": (rng.random(n) < 0.005).astype(np.int32)}).to_parquet(
            part / "part-00000.parquet", index=False
        )
    src.quarantine.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "txn_id": [f"T{i}" for i in range(20)], "amt": ["-1"] * 12 + ["5"] * 8,
        "ts": ["2024-01-01 00:00:00"] * 12 + ["not a time"] * 8,
        "reason": ["non_positive_amount"] * 12 + ["unparseable_timestamp"] * 8,
        "reason_detail": ["amount -1 <= 0"] * 12 + ["ts 'not a time'"] * 8,
    }).to_parquet(src.quarantine / "part-00000.parquet", index=False)  # fmt: skip
    _dump(src.features / "_features.json", {"version": 1, "rows": 299_500})
