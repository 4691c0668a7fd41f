"""Benchmark: point-in-time feature computation on Spark (local[2]) vs pandas in one process.

For each size (1m, 10m) the canonical transactions are generated with
fraud_app.data.generator and written to Parquet (not timed). Then:

  * Spark: read the Parquet + fraud_app.features.compute_features with the repo's
    feature_specs/, written to Spark's `noop` sink so every feature of every row is
    computed and nothing else is measured;
  * pandas (1m only): read the same Parquet + the SAME features with the SAME
    point-in-time rules in one process: groupby + rolling(closed="left") for the
    velocity windows (pandas' "left" excludes same-timestamp rows, as our rule does),
    merge_asof (an as-of join) for the lagged fraud-rate windows and label events, and
    groupby/cumsum snapshot tables for the categorical encodings.

`--check` compares every feature of every row between the two at the first size (it
writes the Spark result to Parquet for that) and exits 1 when a value differs or a
feature is not compared; the pandas peer names any feature it cannot compute, and why
(`not_computed`: a lagged window [t - lag - W, t - lag) of a kind other than fraud_rate;
the shipped specs have none). The last line printed is one JSON object:
features_rows_per_s_1m, features_rows_per_s_10m, features_speed_ratio_vs_pandas_1m
(Spark rows/s / pandas rows/s) and features_rows_ratio_10m_vs_1m (10m rows/s / 1m rows/s:
1.0 = linear scaling).

    .venv/bin/python bench/features.py --sizes 1m          # quick: 1m only
    .venv/bin/python bench/features.py --sizes 20k --check # correctness at a small size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _spark_common import machine, spark_session

from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.novelty import Novelty
from fraud_app.features.row_kinds import Calendar, ColumnValue, CrossBorder, OneHot
from fraud_app.features.spec import FeatureSet, load_feature_set, spec_paths
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)

US = 1_000_000
REPO = Path(__file__).resolve().parents[1]


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "km" else text) * scale)


def generate(spark, n: int, path: str) -> None:
    from fraud_app.data.config import GenerateSection
    from fraud_app.data.generator import generate_transactions

    cfg = GenerateSection(
        n_transactions=n,
        n_cards=max(100, n // 10),  # ~10 transactions per card over 30 days
        n_merchants=max(100, min(50_000, n // 200)),
        days=30,
        partitions=max(2, n // 500_000),
    )
    generate_transactions(spark, cfg).write.mode("overwrite").parquet(path)


def spark_features(spark, path: str, fs: FeatureSet, out: str | None) -> float:
    from fraud_app.features.compile import compute_features

    started = time.perf_counter()
    result = compute_features(spark.read.parquet(path), fs)
    if out:
        result.df.write.mode("overwrite").parquet(out)
    else:
        result.df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


# ---- pandas peer ---------------------------------------------------------------------


ENTITY_KINDS = (WindowAggregate, AmountRatio, AmountZScore, VelocityRatio, TimeSincePrevious,
                FraudRate, Novelty)  # fmt: skip
ROWWISE_KINDS = (Calendar, CrossBorder, ColumnValue, OneHot)
ENCODING_KINDS = (FrequencyEncoding, TargetEncoding)


def not_computed(fs: FeatureSet) -> dict[str, str]:
    """{feature name: why} for the features this pandas peer does not compute."""
    out = {}
    for f in fs.features:
        if not isinstance(f, ENTITY_KINDS + ROWWISE_KINDS + ENCODING_KINDS):
            out[f.name] = f"kind {f.kind!r} has no pandas implementation here"
        elif not isinstance(f, FraudRate) and getattr(f, "lag", None) not in (None, "0"):
            out[f.name] = (
                f"lagged {f.kind} window [t - lag - W, t - lag): rolling(closed='left') "
                "only ends at t"
            )
    return out


def pandas_features(path: str, fs: FeatureSet) -> pd.DataFrame:
    """Every feature of `fs` except `not_computed(fs)`, with fill values applied."""
    skipped = not_computed(fs)
    features = [f for f in fs.features if f.name not in skipped]
    df = pd.read_parquet(path)
    df["_ts"] = _micros(df["timestamp"])
    delay_us = fs.label_delay_s * US
    fallback = df["_ts"] + delay_us
    if "label_time" in df.columns:
        lt = _micros(df["label_time"].fillna(df["timestamp"]))  # same tz (or none) as it
        df["_known"] = np.where(df["label_time"].isna(), fallback, lt)
    else:
        df["_known"] = fallback
    df["_fraud"] = (df["label"] == 1).astype("int64")
    out = pd.DataFrame({"transaction_id": df["transaction_id"]})
    by_entity: dict[str, list] = {}
    for f in features:
        if isinstance(f, ENTITY_KINDS):
            by_entity.setdefault(f.stage_column, []).append(f)
            if f.same is not None and f.stage_column not in df.columns:  # "card with this value"
                a, b = (df[c] for c in f.key_columns)
                df[f.stage_column] = (a.astype(str) + "\x00" + b.astype(str)).where(
                    a.notna() & b.notna(), None
                )
    for f in features:  # novelty's derived column first: each row's flag
        if isinstance(f, Novelty) and f.flag_column not in df.columns:
            df[f.flag_column] = _new_flags(df, f.entity_column, f.column, f.lookback_s)
    for entity, feats in by_entity.items():
        out = out.join(_entity(df, entity, feats, fs.label_delay_s))
    for f in features:
        if isinstance(f, ENCODING_KINDS):
            out[f.name] = _encoding(df, f, fs.label_delay_s)
        elif isinstance(f, ROWWISE_KINDS):
            out[f.name] = _rowwise(df, f)
    for f in features:
        out[f.name] = out[f.name].astype("float64").fillna(f.fill)
    return out[["transaction_id", *(f.name for f in features)]]


def _micros(col: pd.Series) -> pd.Series:
    """Epoch microseconds of a timestamp column (naive values are UTC, as Spark writes them)."""
    if getattr(col.dtype, "tz", None) is not None:
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    return col.astype("datetime64[us]").astype("int64")


def _entity(df: pd.DataFrame, entity: str, feats: list, delay_s: int) -> pd.DataFrame:
    keyed = df[df[entity].notna()].sort_values([entity, "_ts"], kind="stable")
    keyed = keyed.assign(_t=pd.to_datetime(keyed["_ts"], unit="us"))
    res = pd.DataFrame(index=keyed.index)
    groups = keyed.groupby(entity, sort=False)
    for f in feats:
        if isinstance(f, Novelty):
            res[f.name] = _novelty(keyed, groups, f)
        elif isinstance(f, WindowAggregate) and f.aggregation == "count_distinct":
            res[f.name] = _count_distinct(keyed, f)
        elif isinstance(f, WindowAggregate | AmountRatio):
            res[f.name] = _velocity(keyed, groups, f)
        elif isinstance(f, AmountZScore):
            res[f.name] = _zscore(keyed, groups, f)
        elif isinstance(f, VelocityRatio):
            res[f.name] = _pace_ratio(keyed, groups, f)
        elif isinstance(f, TimeSincePrevious):
            prev = groups.rolling(f"{f.cap_s}s", on="_t", closed="left")["_ts"].max()
            gap = (keyed["_ts"].to_numpy() - prev.to_numpy()) / US
            res[f.name] = np.minimum(gap, float(f.cap_s))
        elif isinstance(f, FraudRate):
            res[f.name] = _fraud_rate(keyed, entity, f, delay_s)
    return res


def _new_flags(df: pd.DataFrame, entity: str, column: str, lookback_s: int) -> pd.Series:
    """1.0 where the row's `column` value is absent from the entity's rows in [t - lookback,
    t), else 0.0; NaN where the entity or the value is null (novelty's flag)."""
    sub = df[df[entity].notna() & df[column].notna()]
    sub = sub.sort_values([entity, column, "_ts"], kind="stable")
    sub = sub.assign(_t=pd.to_datetime(sub["_ts"], unit="us"))
    roll = sub.groupby([entity, column], sort=False).rolling(
        f"{lookback_s}s", on="_t", closed="left"
    )["_ts"]
    seen = np.nan_to_num(roll.count().to_numpy())
    return pd.Series(np.where(seen == 0, 1.0, 0.0), index=sub.index).reindex(df.index)


def _novelty(keyed: pd.DataFrame, groups, f: Novelty) -> np.ndarray:
    """The row's flag, or the sum of the entity's flags over [t - W, t)."""
    if f.window_s is None:
        return keyed[f.flag_column].to_numpy()
    roll = groups.rolling(f"{f.window_s}s", on="_t", closed="left")[f.flag_column]
    return np.nan_to_num(roll.sum().to_numpy())


def _count_distinct(keyed: pd.DataFrame, f: WindowAggregate) -> np.ndarray:
    """Distinct non-null values of f.column over [t - W, t) (+ the current one when new)."""
    codes = pd.factorize(keyed[f.column])[0].astype("float64")
    codes[codes < 0] = np.nan
    coded = keyed.assign(_code=codes).groupby(f.stage_column, sort=False)
    roll = coded.rolling(f"{f.window_s}s", on="_t", closed="left")["_code"]
    got = np.nan_to_num(roll.apply(lambda v: len(np.unique(v[~np.isnan(v)])), raw=True).to_numpy())
    if f.include_current:  # the current value joins the set unless null or already in it
        flags = _new_flags(keyed, f.stage_column, f.column, f.window_s)
        got = got + np.nan_to_num(flags.to_numpy())
    return got


def _velocity(keyed: pd.DataFrame, groups, f) -> np.ndarray:
    got = _rolled(keyed, groups, f)
    if getattr(f, "relative_s", None) is None:
        return got
    # window_agg's relative_to: over the entity's mean of the column in [t - B, t)
    base = groups.rolling(f"{f.relative_s}s", on="_t", closed="left")[f.column].mean()
    base = base.to_numpy()
    return got / np.where(base == 0, np.nan, base)


def _rolled(keyed: pd.DataFrame, groups, f) -> np.ndarray:
    column = "amount" if isinstance(f, AmountRatio) else f.column
    roll = groups.rolling(f"{f.window_s}s", on="_t", closed="left")[column]
    if isinstance(f, AmountRatio):
        mean = roll.mean().to_numpy()
        return keyed[column].to_numpy() / np.where(mean == 0, np.nan, mean)
    x = keyed[column].to_numpy()
    if f.include_current:
        n = np.nan_to_num(roll.count().to_numpy())
        s = np.nan_to_num(roll.sum().to_numpy())
        if f.aggregation in ("count", "sum", "mean"):
            return {"count": n + 1, "sum": s + x, "mean": (s + x) / (n + 1)}[f.aggregation]
        if f.aggregation in ("max", "min"):
            other = getattr(roll, f.aggregation)().to_numpy()
            pick = np.fmax if f.aggregation == "max" else np.fmin
            return pick(other, x)
        ss = np.nan_to_num(roll.apply(lambda v: (v * v).sum(), raw=True).to_numpy()) + x * x
        var = (ss - (s + x) ** 2 / (n + 1)) / np.where(n > 0, n, np.nan)
        return np.sqrt(np.maximum(var, 0))
    values = {"count": roll.count, "sum": roll.sum, "mean": roll.mean, "max": roll.max}.get(
        f.aggregation
    ) or {"min": roll.min, "std": roll.std}[f.aggregation]
    got = values().to_numpy()
    return np.nan_to_num(got) if f.aggregation in ("count", "sum") else got


def _zscore(keyed: pd.DataFrame, groups, f: AmountZScore) -> np.ndarray:
    """(x - mean) / sample std of the window [t - W, t); undefined below 2 rows or no spread."""
    roll = groups.rolling(f"{f.window_s}s", on="_t", closed="left")[f.column]
    n = np.nan_to_num(roll.count().to_numpy())
    mean, std = roll.mean().to_numpy(), roll.std(ddof=1).to_numpy()
    spread = std > 1e-9 * np.maximum(np.abs(mean), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (keyed[f.column].to_numpy() - mean) / std
    return np.where((n > 1) & spread, z, np.nan)


def _pace_ratio(keyed: pd.DataFrame, groups, f: VelocityRatio) -> np.ndarray:
    """(agg over [t - W, t) / W) / (agg over [t - B, t) / B); undefined when the baseline is 0."""
    column = "_ts" if f.aggregation == "count" else f.column

    def agg(seconds: int) -> np.ndarray:
        roll = groups.rolling(f"{seconds}s", on="_t", closed="left")[column]
        return np.nan_to_num((roll.count() if f.aggregation == "count" else roll.sum()).to_numpy())

    recent, base = agg(f.window_s), agg(f.baseline_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (recent / f.window_s) / (base / f.baseline_s)
    return np.where(base > 0, ratio, np.nan)


def _asof(queries: pd.DataFrame, table: pd.DataFrame, entity: str, value: str) -> np.ndarray:
    """table[value] at the last table row with time <= query time (same entity), else 0."""
    q = queries.sort_values("time", kind="stable")
    t = table.sort_values("time", kind="stable")
    merged = pd.merge_asof(q, t, on="time", by=entity, direction="backward")
    return merged.set_index("_q")[value].reindex(queries["_q"]).fillna(0).to_numpy()


def _fraud_rate(keyed: pd.DataFrame, entity: str, f: FraudRate, delay_s: int) -> np.ndarray:
    lag = delay_s * US if f.mature_only else 0
    w = f.window_s * US
    ts = keyed["_ts"].to_numpy()
    cum = keyed[[entity, "_ts"]].rename(columns={"_ts": "time"})
    cum["rows"] = keyed.groupby(entity, sort=False).cumcount() + 1
    cum = cum.groupby([entity, "time"], sort=False, as_index=False)["rows"].max()

    def rows_upto(x: np.ndarray) -> np.ndarray:  # entity rows with ts <= x
        q = pd.DataFrame({entity: keyed[entity].to_numpy(), "time": x, "_q": np.arange(len(x))})
        return _asof(q, cum, entity, "rows")

    den = rows_upto(ts - lag - 1) - rows_upto(ts - lag - w - 1)
    frauds = keyed[keyed["_fraud"] == 1]
    start = np.maximum(frauds["_ts"].to_numpy() + lag + 1, frauds["_known"].to_numpy())
    end = frauds["_ts"].to_numpy() + lag + w
    ok = start <= end
    events = pd.concat(
        [
            pd.DataFrame({entity: frauds[entity].to_numpy()[ok], "time": start[ok], "d": 1}),
            pd.DataFrame({entity: frauds[entity].to_numpy()[ok], "time": end[ok] + 1, "d": -1}),
        ]
    ).sort_values([entity, "time"], kind="stable")
    events["running"] = events.groupby(entity, sort=False)["d"].cumsum()
    events = events.groupby([entity, "time"], sort=False, as_index=False)["running"].last()
    q = pd.DataFrame({entity: keyed[entity].to_numpy(), "time": ts, "_q": np.arange(len(ts))})
    num = _asof(q, events, entity, "running")
    m = f.smoothing
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den + m > 0, (num + m * f.prior) / (den + m), np.nan)


def _encoding(df: pd.DataFrame, f, delay_s: int) -> np.ndarray:
    r = f.refresh_s * US
    lag = delay_s * US if (isinstance(f, FrequencyEncoding) or f.mature_only) else 0
    key = df[f.column].astype("string").fillna("__null__")
    mature_at = df["_ts"] + lag
    fraud_at = np.maximum(df["_known"], mature_at)
    parts = [
        pd.DataFrame({"k": key, "p": df["_ts"] // r, "n": 1, "m": 0, "f": 0}),
        pd.DataFrame({"k": key, "p": mature_at // r, "n": 0, "m": 1, "f": 0}),
        pd.DataFrame({"k": key, "p": fraud_at // r, "n": 0, "m": 0, "f": df["_fraud"]}),
    ]
    events = pd.concat(parts)
    per_key = events.groupby(["k", "p"], as_index=False)[["n", "m", "f"]].sum()
    overall = events.groupby("p", as_index=False)[["n", "m", "f"]].sum()
    per_key = per_key.sort_values(["k", "p"])
    before = per_key.groupby("k")[["n", "m", "f"]].cumsum() - per_key[["n", "m", "f"]]
    per_key[["n", "m", "f"]] = before
    overall = overall.sort_values("p")
    overall[["all_n", "all_m", "all_f"]] = (
        overall[["n", "m", "f"]].cumsum() - overall[["n", "m", "f"]]
    )
    table = per_key.merge(overall[["p", "all_n", "all_m", "all_f"]], on="p")
    rows = pd.DataFrame({"k": key, "p": df["_ts"] // r}).merge(table, on=["k", "p"], how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        if isinstance(f, FrequencyEncoding):
            return np.where(rows["all_n"] > 0, rows["n"] / rows["all_n"], np.nan)
        if f.smoothing == 0:
            return np.where(rows["m"] > 0, rows["f"] / rows["m"], np.nan)
        prior = np.where(rows["all_m"] > 0, rows["all_f"] / rows["all_m"], np.nan)
        return (rows["f"] + f.smoothing * prior) / (rows["m"] + f.smoothing)


def _rowwise(df: pd.DataFrame, f) -> np.ndarray:
    ts = df["_ts"].to_numpy()
    if isinstance(f, Calendar):
        dow = (ts // (86_400 * US) + 3) % 7
        return {
            "hour_of_day": (ts // (3_600 * US)) % 24,
            "day_of_week": dow,
            "is_weekend": dow >= 5,
        }[f.part].astype("float64")
    if isinstance(f, CrossBorder):
        a, b = df[f.country], df[f.home_country]
        return np.where(a.notna() & b.notna(), (a != b).astype("float64"), np.nan)
    if isinstance(f, OneHot):
        v = df[f.column]
        return np.where(v.notna(), (v.astype(str) == f.value).astype("float64"), np.nan)
    x = df[f.column].astype("float64").to_numpy()
    if f.transform == "signed_log1p":
        return np.sign(x) * np.log1p(np.abs(x))
    return np.log1p(x) if f.transform == "log1p" else x


# ---- driver --------------------------------------------------------------------------


def compare(spark_out: str, pdf: pd.DataFrame, fs: FeatureSet) -> dict:
    """Every feature of every row, Spark vs pandas; names what could not be compared."""
    skipped = not_computed(fs)
    names = [n for n in fs.names if n not in skipped]
    sdf = pd.read_parquet(spark_out, columns=["transaction_id", *names])
    merged = sdf.merge(pdf, on="transaction_id", suffixes=("_spark", "_pandas"))
    bad = {}
    for n in names:
        a, b = merged[f"{n}_spark"].to_numpy(), merged[f"{n}_pandas"].to_numpy()
        close = np.isclose(a, b, rtol=1e-6, atol=1e-6)
        if not close.all():
            bad[n] = int((~close).sum())
    return {
        "rows_compared": len(merged),
        "features_compared": len(names),
        "features_with_differences": bad,
        "not_computed": skipped,
        "passed": bool(len(merged) == len(sdf) == len(pdf) and not bad and not skipped),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help="comma list, e.g. 1m or 20k,1m")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas peer")
    parser.add_argument("--check", action="store_true", help="compare Spark vs pandas values")
    parser.add_argument("--label-delay-days", type=float, default=7.0)
    parser.add_argument("--workdir", default=None, help="where the generated data goes")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    fs = load_feature_set(
        spec_paths(REPO / "feature_specs"), label_delay_days=args.label_delay_days
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_features_"))
    spark = spark_session("bench-features")
    report: dict = {"machine": machine(), "features": len(fs.names), "runs": {}}
    try:
        for i, n in enumerate(sizes):
            path = str(workdir / f"canonical_{n}")
            generate(spark, n, path)
            rows = spark.read.parquet(path).count()
            out = str(workdir / f"features_{n}") if (args.check and i == 0) else None
            seconds = spark_features(spark, path, fs, out)
            run = {
                "rows": rows,
                "spark_seconds": round(seconds, 2),
                "spark_rows_per_s": rows / seconds,
            }
            if not args.no_pandas and i == 0 and n <= 1_000_000:  # pandas: one process, RAM
                started = time.perf_counter()
                pdf = pandas_features(path, fs)
                run["pandas_seconds"] = round(time.perf_counter() - started, 2)
                run["pandas_rows_per_s"] = rows / run["pandas_seconds"]
                if out:
                    run["check"] = compare(out, pdf, fs)
                del pdf
            report["runs"][n] = run
            print(json.dumps({"size": n, **run}), flush=True)
    finally:
        spark.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    result = summary(report)
    print(json.dumps(result))
    return 1 if args.check and not (result["check"] or {}).get("passed") else 0


def summary(report: dict) -> dict:
    runs = report["runs"]
    one, ten = runs.get(1_000_000), runs.get(10_000_000)
    first = runs[min(runs)] if runs else {}

    def rate(run):
        return round(run["spark_rows_per_s"], 1) if run else None

    pandas = (one or first).get("pandas_rows_per_s") if (one or first) else None
    ratio_vs_pandas = round((one or first)["spark_rows_per_s"] / pandas, 3) if pandas else None
    return {
        "features_rows_per_s_1m": rate(one),
        "features_rows_per_s_10m": rate(ten),
        "features_speed_ratio_vs_pandas_1m": ratio_vs_pandas if one else None,
        "features_rows_ratio_10m_vs_1m": (
            round(ten["spark_rows_per_s"] / one["spark_rows_per_s"], 3) if one and ten else None
        ),
        "sizes": sorted(runs),
        "n_features": report["features"],
        "first_size_speed_ratio_vs_pandas": ratio_vs_pandas,
        "check": first.get("check"),
        **report["machine"],
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    sys.exit(main())
