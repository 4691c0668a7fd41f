"""Data-quality figures: rows per workflow step and transactions / label rate per day."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Step:
    name: str
    rows: int
    note: str = ""


def rows_per_step(
    etl: dict[str, Any] | None,
    feature_rows: int | None,
    splits: dict[str, Any] | None,
    balancing: dict[str, Any] | None,
) -> list[Step]:
    """raw -> canonical -> features -> per split -> per balanced subset, from whatever
    reports exist (a missing report leaves its steps out)."""
    steps: list[Step] = []
    if etl:
        # an append load (etl.mode: append) counts its own delivery in and the whole table
        # out: raw input 1,000 -> canonical 13,000 read as rows made out of nothing
        previous = int(etl.get("previous_rows") or 0)
        steps.append(Step("raw input", int(etl["input_rows"]), "this load" if previous else ""))
        steps.append(Step("quarantined", int(etl.get("quarantine_rows", 0)), "rule broken"))
        steps.append(Step("duplicates dropped", int(etl.get("duplicate_rows", 0))))
        if previous:
            added = int(etl["output_rows"]) - previous
            steps.append(Step("added to canonical", added, f"to {previous:,} rows loaded before"))
        steps.append(
            Step("canonical", int(etl["output_rows"]), "the whole table" if previous else "")
        )
    if feature_rows is not None:
        steps.append(Step("features", int(feature_rows)))
    windows = (splits or {}).get("windows") or {}
    for name in ("train", "validation", "test"):
        if name in windows and windows[name].get("rows") is not None:
            w = windows[name]
            steps.append(
                Step(f"split: {name}", int(w["rows"]), f"{int(w.get('frauds', 0)):,} frauds")
            )
    for i, s in enumerate((balancing or {}).get("subsets") or []):
        rows = int(s.get("frauds", 0)) + int(s.get("normals", 0))
        steps.append(Step(f"subset {i}", rows, f"{int(s.get('frauds', 0)):,} frauds"))
    return steps


@dataclass(frozen=True)
class Daily:
    dates: list[str]
    transactions: list[int]
    frauds: list[int]
    label_rate: list[float]


def daily_stats(dates, labels) -> Daily:
    """Transactions, frauds and label rate (frauds / labelled transactions) per calendar day.
    Rows without a label (not known yet) count as transactions, never in the rate: a day
    without any known label has rate NaN (a gap in the plot), not 0."""
    d = pd.DataFrame({"date": pd.to_datetime(np.asarray(dates)).normalize(), "label": labels})
    if d.empty:
        return Daily([], [], [], [])
    g = d.groupby("date").agg(
        transactions=("label", "size"), frauds=("label", "sum"), labelled=("label", "count")
    )
    return Daily(
        [ts.strftime("%Y-%m-%d") for ts in g.index],
        [int(v) for v in g["transactions"]],
        [int(v) for v in g["frauds"]],
        [
            float(f / n) if n else float("nan")
            for f, n in zip(g["frauds"], g["labelled"], strict=True)
        ],
    )
