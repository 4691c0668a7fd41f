"""A brute-force, pure-Python statement of every feature's point-in-time semantics.

O(n^2) loops over plain rows, written straight from the definitions' docstrings and
fraud_app.features.labels, independent of the Spark compiler. Tests compare the
compiler's output with it on small tricky data.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import zoneinfo

from fraud_app.features.base import FeatureDef
from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.novelty import Novelty
from fraud_app.features.row_kinds import Calendar, ColumnValue, CrossBorder, OneHot
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
US = 1_000_000


def micros(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def reference_features(rows: list[dict], fs: FeatureSet) -> dict[str, dict[str, float]]:
    """{transaction_id: {feature name: value}} with fill values applied."""
    has_label_time = any("label_time" in r for r in rows)
    prepared = []
    for r in rows:
        ts = micros(r["timestamp"])
        lt = r.get("label_time") if has_label_time else None
        known = micros(lt) if lt is not None else ts + fs.label_delay_s * US
        prepared.append({**r, "_ts": ts, "_known": known, "_fraud": r.get("label") == 1})
    out = {}
    groups: dict = {}  # key columns -> {key: rows}, built once per call (see _same_entity)
    for r in prepared:
        values = {}
        for f in fs.features:
            v = _value(f, r, prepared, fs.label_delay_s, groups)
            values[f.name] = f.fill if v is None or (isinstance(v, float) and math.isnan(v)) else v
        out[r["transaction_id"]] = values
    return out


def _key(f, r) -> tuple | None:
    """The row's values of the feature's key columns (entity, and `same` when set)."""
    values = tuple(r.get(c) for c in f.key_columns)
    return None if any(v is None for v in values) else values


def _same_entity(f, r, rows, groups: dict):
    """[o for o in rows if _key(f, o) == _key(f, r)], in row order: the rows are grouped by
    the feature's key columns once per reference_features call (the scan per row and feature
    was most of the reference's time)."""
    key = _key(f, r)
    if key is None:
        return []
    if f.key_columns not in groups:
        index: dict[tuple, list[dict]] = {}
        for o in rows:
            k = _key(f, o)
            if k is not None:
                index.setdefault(k, []).append(o)
        groups[f.key_columns] = index
    return groups[f.key_columns].get(key, [])


def _value(f: FeatureDef, r: dict, rows: list[dict], delay_s: int, groups: dict):
    t = r["_ts"]
    entity_kinds = (
        WindowAggregate,
        AmountRatio,
        TimeSincePrevious,
        FraudRate,
        AmountZScore,
        VelocityRatio,
        Novelty,
    )
    if isinstance(f, entity_kinds):
        if _key(f, r) is None:
            return None
        group = _same_entity(f, r, rows, groups)
    if isinstance(f, Novelty):
        return _novelty(f, r, group, delay_s)
    if isinstance(f, WindowAggregate | AmountRatio | AmountZScore):
        # the lagged window [t - lag - W, t - lag), in plain words
        lag, w = f.lag_s(delay_s) * US, f.window_s * US
        window = [o for o in group if t - lag - w <= o["_ts"] < t - lag]
        vals = [o.get(f.column) for o in window if o.get(f.column) is not None]
    if isinstance(f, WindowAggregate):
        if f.aggregation == "count":  # transactions, whatever their `column` holds
            return float(len(window) + (1 if f.include_current else 0))
        if f.include_current and r.get(f.column) is not None:
            vals.append(r[f.column])
        value = _aggregate(f.aggregation, vals)
        if f.relative_to is None:
            return value
        b = f.relative_s * US  # the baseline [t - B, t): the entity's usual level
        base = [o[f.column] for o in group if t - b <= o["_ts"] < t and o[f.column] is not None]
        mean = sum(base) / len(base) if base else None
        return value / mean if value is not None and mean else None
    if isinstance(f, AmountRatio):
        mean = sum(vals) / len(vals) if vals else None
        return r[f.column] / mean if mean and r[f.column] is not None else None
    if isinstance(f, AmountZScore):
        if len(vals) < 2 or r[f.column] is None:
            return None
        mean, std = statistics.fmean(vals), statistics.stdev(vals)
        return (r[f.column] - mean) / std if std > 1e-9 * max(abs(mean), 1.0) else None
    if isinstance(f, VelocityRatio):

        def agg(seconds):
            window = [o for o in group if t - seconds * US <= o["_ts"] < t]
            return (
                len(window) if f.aggregation == "count" else sum(o[f.column] or 0.0 for o in window)
            )

        recent, base = agg(f.window_s), agg(f.baseline_s)
        return (recent / f.window_s) / (base / f.baseline_s) if base > 0 else None
    if isinstance(f, TimeSincePrevious):
        prev = [o["_ts"] for o in group if o["_ts"] < t]
        return min((t - max(prev)) / US, float(f.cap_s)) if prev else None
    if isinstance(f, FraudRate):
        lag = f.lag_s(delay_s) * US
        w = f.window_s * US
        window = [o for o in group if t - lag - w <= o["_ts"] < t - lag]
        frauds = sum(1 for o in window if o["_fraud"] and o["_known"] < t)
        m = f.smoothing
        return (frauds + m * f.prior) / (len(window) + m) if len(window) + m > 0 else None
    if isinstance(f, FrequencyEncoding | TargetEncoding):
        return _encoding(f, r, rows, delay_s)
    if isinstance(f, Calendar):
        if f.time_zone is not None:  # the instant on the zone's wall clock, as if UTC
            utc = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=t)
            wall = utc.astimezone(zoneinfo.ZoneInfo(f.time_zone)).replace(tzinfo=dt.UTC)
            t = micros(wall)
        days = t // (86_400 * US)
        dow = (days + 3) % 7
        return {
            "hour_of_day": (t // (3_600 * US)) % 24,
            "day_of_week": dow,
            "is_weekend": dow >= 5,
        }[f.part] * 1.0
    if isinstance(f, CrossBorder):
        a, b = r.get(f.country), r.get(f.home_country)
        return None if a is None or b is None else float(a != b)
    if isinstance(f, ColumnValue):
        x = float(r[f.column])
        if f.transform == "signed_log1p":
            return math.copysign(math.log1p(abs(x)), x) if x else 0.0
        return math.log1p(x) if f.transform == "log1p" else x
    if isinstance(f, OneHot):
        v = r.get(f.column)
        return None if v is None else float(str(v) == f.value)
    raise TypeError(type(f))


def _is_new(f: Novelty, s: dict, group: list[dict]):
    """Row s's value of f.column is absent from the entity's rows in [ts_s - lookback, ts_s)."""
    v = s.get(f.column)
    if v is None:
        return None
    lb = f.lookback_s * US
    return not any(o.get(f.column) == v for o in group if s["_ts"] - lb <= o["_ts"] < s["_ts"])


def _novelty(f: Novelty, r: dict, group: list[dict], delay_s: int):
    if f.window_s is None:
        new = _is_new(f, r, group)
        return None if new is None else float(new)
    lag, w, t = f.lag_s(delay_s) * US, f.window_s * US, r["_ts"]
    return float(
        sum(1 for o in group if t - lag - w <= o["_ts"] < t - lag and _is_new(f, o, group))
    )


def _aggregate(name: str, vals: list):
    if name == "count":
        return float(len(vals))
    if name == "count_distinct":
        return float(len(set(vals)))
    if name == "sum":
        return float(sum(vals))
    if not vals:
        return None
    if name == "mean":
        return sum(vals) / len(vals)
    if name == "max":
        return max(vals)
    if name == "min":
        return min(vals)
    if name == "std":
        return statistics.stdev(vals) if len(vals) > 1 else None
    raise ValueError(name)


def _encoding(f, r, rows, delay_s):
    period = f.refresh_s * US
    s = (r["_ts"] // period) * period
    key = r.get(f.column)
    if isinstance(f, FrequencyEncoding):
        before = [o for o in rows if o["_ts"] < s]
        same = [o for o in before if o.get(f.column) == key]
        return len(same) / len(before) if before else None
    lag = delay_s * US if f.mature_only else 0
    mature = [o for o in rows if o["_ts"] + lag < s]
    frauds = [o for o in mature if o["_fraud"] and o["_known"] < s]
    m_v = sum(1 for o in mature if o.get(f.column) == key)
    f_v = sum(1 for o in frauds if o.get(f.column) == key)
    if f.smoothing == 0:
        return f_v / m_v if m_v else None
    prior = len(frauds) / len(mature) if mature else None
    if prior is None:
        return None
    return (f_v + f.smoothing * prior) / (m_v + f.smoothing)
