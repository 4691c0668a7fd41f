"""The summary of a scoring job (contract C3): its head (`job_summary`: the job, its model)
and per date (`date_summaries`) rows, alerts, score histogram and
per-feature mean, quantiles and histogram in the model's reference bins (for drift), and
per feature the rows below / above the training range (`reference.training_range`: where
the model's standardisation clips its inputs; none without one).

The feature figures read each feature's finite values; `nonfinite` counts the date's rows
holding NaN or inf in it (scored null under `scoring.nonfinite: null`). The mean divided
the nansum by every row (a NaN read as 0, an inf made it inf) and Spark's
percentile_approx takes NaN for a value (a date with half its values NaN had q05 NaN).
Each date's `null_scores` counts its rows without a score (NaN or inf features under
`scoring.nonfinite: null`; never alerted): until session 54 only the per-feature
`nonfinite` counts hinted at them. `below_range` / `above_range` count finite values only: an inf row has no score (until
session 54 it was counted beyond the range too, and the job's WARNING said its score
treated it as at the bound).

Counts and sums are exact: each partition emits one partial sum per date (NumPy, added
over its Arrow batches), the driver adds them: partitions x dates rows (it was one per Arrow
batch and date, ~6 KB per 10,000 rows at 50 features, growing with the rows). Quantiles are Spark's percentile_approx (accuracy 10,000) per date.
Bins follow fraud_app.scoring.reference (right-closed, len(edges) + 1 bins).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.reference import bin_counts

QUANTILES = (0.05, 0.5, 0.95)


def _partials(features_col: str, score_col: str, feature_edges, score_edges, bounds):
    low, high = (None, None) if bounds is None else (np.asarray(bounds[0]), np.asarray(bounds[1]))

    def fn(batches: Iterator):
        import pyarrow as pa

        merged: dict[str, list] = {}  # one partial per date of the partition, not per batch
        for batch in batches:
            if batch.num_rows == 0:
                continue
            days = batch.column(PARTITION_COLUMN).cast(pa.string()).to_numpy(zero_copy_only=False)
            vec = batch.column(features_col)
            X = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
            X = X.reshape(batch.num_rows, -1)
            s = batch.column(score_col).to_numpy(zero_copy_only=False).astype(np.float64)
            alert = batch.column("alert").fill_null(False).to_numpy(zero_copy_only=False)
            for day in np.unique(days):
                m = days == day
                Xd, sd = X[m], s[m]
                finite = np.isfinite(Xd)
                fcounts = [bin_counts(Xd[:, j], e) for j, e in enumerate(feature_edges)]
                # finite values only: an inf row is scored null (nonfinite), never clipped
                zero = np.zeros(X.shape[1], np.int64)
                below = zero if low is None else (finite & (Xd < low)).sum(axis=0)
                above = zero if high is None else (finite & (Xd > high)).sum(axis=0)
                part = [int(m.sum()), int(alert[m].sum()), float(np.nansum(sd)),
                        int(np.isfinite(sd).sum()), np.asarray(bin_counts(sd, score_edges)),
                        np.where(finite, Xd, 0.0).sum(axis=0), (~finite).sum(axis=0),
                        fcounts, below, above]  # fmt: skip
                held = merged.get(str(day))
                merged[str(day)] = part if held is None else _add(held, part)
        if merged:
            rows = [(day, *_plain(part)) for day, part in merged.items()]
            yield pa.RecordBatch.from_pylist(
                [dict(zip(_FIELDS, r, strict=True)) for r in rows], schema=_arrow_schema()
            )

    return fn


def _add(held: list, part: list) -> list:
    """Two partials of one date added field by field (the feature histograms: per feature,
    their bins differ in number)."""
    return [
        [x + y for x, y in zip(a, b, strict=True)] if isinstance(a, list) else a + b
        for a, b in zip(held, part, strict=True)
    ]


def _plain(part: list) -> list:
    """A partition's partial as Arrow takes it (NumPy arrays as lists)."""
    return [
        [x.tolist() for x in v]
        if isinstance(v, list)
        else v.tolist()
        if isinstance(v, np.ndarray)
        else v
        for v in part
    ]


_FIELDS = (
    "date", "rows", "alerts", "score_sum", "scored", "score_counts", "sums", "nonfinite",
    "counts", "below", "above",
)  # fmt: skip
_SPARK_SCHEMA = (
    "date string, rows long, alerts long, score_sum double, scored long, "
    "score_counts array<long>, sums array<double>, nonfinite array<long>, "
    "counts array<array<long>>, "
    "below array<long>, above array<long>"
)


def _arrow_schema():
    import pyarrow as pa

    return pa.schema([
        ("date", pa.string()), ("rows", pa.int64()), ("alerts", pa.int64()),
        ("score_sum", pa.float64()), ("scored", pa.int64()),
        ("score_counts", pa.list_(pa.int64())), ("sums", pa.list_(pa.float64())),
        ("nonfinite", pa.list_(pa.int64())),
        ("counts", pa.list_(pa.list_(pa.int64()))),
        ("below", pa.list_(pa.int64())), ("above", pa.list_(pa.int64())),
    ])  # fmt: skip


def _quantiles(df: DataFrame, features_col: str, n: int) -> dict[str, list[list[float]]]:
    """Per date, per feature the QUANTILES of its finite values (None: it has none)."""
    pct = F.array(*[F.lit(q) for q in QUANTILES])

    def finite(x):  # percentile_approx leaves null out, and takes NaN for a value
        return F.when(~F.isnan(x) & (F.abs(x) != F.lit(float("inf"))), x)

    exprs = [
        F.percentile_approx(finite(F.col(features_col)[j]), pct, 10_000).alias(f"q{j}")
        for j in range(n)
    ]
    rows = df.groupBy(F.col(PARTITION_COLUMN).cast("string").alias("d")).agg(*exprs).collect()
    return {
        r["d"]: [None if r[f"q{j}"] is None else list(r[f"q{j}"]) for j in range(n)] for r in rows
    }


def date_summaries(
    scored: DataFrame, names: list[str], reference: dict[str, Any], *,
    features_col: str = "features", score_col: str = "fraud_score", bounds=None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One C3 `dates` entry per date present in `scored`, in date order. `bounds`: the
    (low, high) arrays of the training range, or None (no counts beyond it)."""
    fedges, sedges = reference["feature_edges"], reference["score_edges"]
    bounds = (
        None if bounds is None else ([float(v) for v in bounds[0]], [float(v) for v in bounds[1]])
    )
    parts = (
        scored.select(PARTITION_COLUMN, features_col, score_col, "alert")
        .mapInArrow(_partials(features_col, score_col, fedges, sedges, bounds), _SPARK_SCHEMA)
        .collect()
    )
    merged: dict[str, dict[str, Any]] = {}
    for p in parts:
        m = merged.get(p["date"])
        if m is None:
            merged[p["date"]] = {k: p[k] for k in _FIELDS if k != "date"}
            continue
        for key in ("rows", "alerts", "score_sum", "scored"):
            m[key] += p[key]
        m["score_counts"] = np.add(m["score_counts"], p["score_counts"]).tolist()
        for key in ("sums", "nonfinite", "below", "above"):
            m[key] = np.add(m[key], p[key]).tolist()
        m["counts"] = [np.add(a, b).tolist() for a, b in zip(m["counts"], p["counts"], strict=True)]
    quantiles = _quantiles(scored, features_col, len(names)) if merged else {}
    return [_entry(day, merged[day], quantiles.get(day), names) for day in sorted(merged)]


def _entry(day: str, m: dict[str, Any], q, names: list[str]) -> dict[str, Any]:
    rows = m["rows"]
    features = {}
    for j, name in enumerate(names):
        qj = q[j] if q and q[j] is not None else [None] * len(QUANTILES)
        values = rows - int(m["nonfinite"][j])  # the finite ones
        features[name] = {
            "mean": float(m["sums"][j] / values) if values else None,
            "nonfinite": int(m["nonfinite"][j]),
            "q05": qj[0], "q50": qj[1], "q95": qj[2],
            "counts": [int(c) for c in m["counts"][j]],
            "below_range": int(m["below"][j]), "above_range": int(m["above"][j]),
        }  # fmt: skip
    return {
        "date": day,
        "rows": int(rows),
        "alerts": int(m["alerts"]),
        # rows scored null (NaN / inf features under scoring.nonfinite: null): never alerted
        "null_scores": int(rows - m["scored"]),
        "mean_score": float(m["score_sum"] / m["scored"]) if m["scored"] else None,
        "score_counts": [int(c) for c in m["score_counts"]],
        "features": features,
    }


def out_of_range(dates: list[dict[str, Any]], names: list[str], bounds) -> dict[str, Any] | None:
    """The job's rows beyond the training range per feature, {name: {"rows", "below",
    "above", "low", "high"}} for the features with any (None: no range known)."""
    if bounds is None:
        return None
    out = {}
    for j, name in enumerate(names):
        below = sum(d["features"][name]["below_range"] for d in dates)
        above = sum(d["features"][name]["above_range"] for d in dates)
        if below or above:
            out[name] = {"rows": below + above, "below": below, "above": above,
                         "low": float(bounds[0][j]), "high": float(bounds[1][j])}  # fmt: skip
    return out


def job_summary(job_id, model, dates, output: str, seconds: float) -> dict[str, Any]:
    """The summary's head (contract C3): the job, its model, and `dates`' summaries."""
    meta = model.ensemble.metadata["scoring"]
    return {
        "job_id": job_id,
        "model_uri": model.uri,
        "model_name": model.name,
        "model_version": model.version,
        "threshold": meta["threshold"],
        "alert_budget": meta.get("alert_budget"),
        # the rows whose scores set the threshold (None: a model saved before session 35)
        "threshold_rows": meta.get("threshold_rows"),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "output": output,
        "seconds": round(seconds, 2),
        "dates": dates,
        "reference": meta["reference"],
        "feature_names": model.ensemble.feature_names,
    }
