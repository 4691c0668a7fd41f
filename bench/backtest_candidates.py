"""Exploration: candidate features computed in NumPy for bench/backtest_sweep.py, before
any of them is written in the spec language.

Regenerates the benchmark's transactions (the generator is deterministic: the same data
flags give the same rows as bench/backtest.py wrote), keeps the columns the feature table
does not carry (mcc, channel, country, card_country, device_id), and computes per row,
point in time (rows of [t - W, t), strictly before t, as the spec language's windows):

  card_same_<c>_count_<W>        the card's earlier transactions with this row's value of
                                 column c (merchant_id, device_id, mcc, country, channel):
                                 0 = the first time this card uses it; -1 when c is null
  card_same_<c>_seconds_since_prev  seconds since the card last used this value (cap W)
  device_count_<W>               the device's earlier transactions, any card (-1: no device)
  onehot_<c>_<value>             one-hot of mcc, channel, country (no history, no label)
  cpoc_*                         common point of compromise (see `cpoc`): over the
                                 merchants this card visited in [t - W, t), how many OTHER
                                 cards that visited them had a fraud AFTER that visit whose
                                 label is known at t

Writes <out>/candidates.parquet keyed by transaction_id (labels known as with label_time)
and <out>/candidates_delay_only.parquet (the same columns, labels known `--delay-days`
after the transaction: the delay-only mode); the sweep appends the columns a
configuration names (`"extra": [...]`) to the feature vector of BOTH models. The label
features (cpoc_*) are checked against a brute-force reference on sampled rows and by
truncation (data cut at a time, labels not known then hidden: earlier rows unchanged).

    PYTHONPATH=. python bench/backtest_candidates.py --transactions 200000 --out /tmp/q3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DAY_S = 86_400
CAT_COLUMNS = ("mcc", "channel", "country", "card_country", "device_id")
LABEL_COLUMNS = ("label", "label_time")


def raw_columns(transactions: int, days: int, fraud_rate: float, out: Path) -> Path:
    """The generator's rows (bench/backtest.py's data flags), the columns the sweep lacks."""
    import pyarrow.parquet as pq

    import bench.backtest as b
    from fraud_app.data.generator import generate_transactions
    from fraud_app.spark.session import get_spark

    path = out / "raw.parquet"
    if path.exists() and set(LABEL_COLUMNS) <= set(pq.read_schema(path).names):
        return path
    args = argparse.Namespace(transactions=transactions, days=days, fraud_rate=fraud_rate,
                              train_days=21, baseline="xgboost", spec_dir=None)  # fmt: skip
    cfg = b._config(out, "label_time", args, {})
    spark = get_spark("local[2]", "q3-candidates", {"spark.sql.shuffle.partitions": "4"})
    df = generate_transactions(spark, cfg.generate)
    df.select("transaction_id", "card_id", "merchant_id", "timestamp", *CAT_COLUMNS,
              *LABEL_COLUMNS).toPandas(
    ).to_parquet(path)  # fmt: skip
    spark.stop()
    return path


def pair_counts(group: np.ndarray, ts: np.ndarray, window_s: int, valid: np.ndarray):
    """Per row: rows of the same group with t - W <= ts < t, and seconds since the latest
    such row before t (capped at W). `group` int ids, `ts` seconds; invalid rows -> -1."""
    span = int(ts.max() - ts.min() + 2 * window_s + 2)
    key = group.astype(np.int64) * span + (ts - ts.min() + window_s).astype(np.int64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    hi = np.searchsorted(sk, key, side="left")  # first row of the group at ts >= t
    lo = np.searchsorted(sk, key - window_s, side="left")
    count = (hi - lo).astype(np.float64)
    prev_key = sk[np.maximum(hi - 1, 0)]
    has_prev = (hi > 0) & (prev_key // span == key // span) & (key - prev_key <= window_s)
    since = np.where(has_prev, key - prev_key, window_s).astype(np.float64)
    return np.where(valid, count, -1.0), np.where(valid, since, -1.0)


def candidates(raw_path: Path, window_days: float = 30):
    import pandas as pd

    df = pd.read_parquet(raw_path)
    ts = _seconds(df["timestamp"])
    card = pd.factorize(df["card_id"])[0]
    w = int(window_days * DAY_S)
    out = pd.DataFrame({"transaction_id": df["transaction_id"]})
    for col in ("merchant_id", "device_id", "mcc", "country", "channel"):
        valid = df[col].notna().to_numpy()
        pair = pd.factorize(df["card_id"].astype(str) + "|" + df[col].astype(str))[0]
        count, since = pair_counts(pair, ts, w, valid)
        out[f"card_same_{col}_count_30d"] = count
        out[f"card_same_{col}_seconds_since_prev"] = since
    dev = df["device_id"]
    count, _ = pair_counts(pd.factorize(dev.astype(str))[0], ts, w, dev.notna().to_numpy())
    out["device_count_30d"] = count
    count1d, _ = pair_counts(card, ts, DAY_S, np.ones(len(df), bool))
    out["card_count_1d_check"] = count1d  # equals the table's card_count_24h: a self-check
    for col in ("mcc", "channel", "country"):
        for value in sorted(df[col].dropna().unique()):
            out[f"onehot_{col}_{value}"] = (df[col] == value).astype(np.float64)
    out["cross_border_check"] = (df["country"] != df["card_country"]).astype(np.float64)
    return out


NEVER = np.iinfo(np.int64).max


def fraud_known_after(card, ts, fraud, known) -> np.ndarray:
    """Per row v: the earliest time at which a fraud of the same card strictly after v
    (ts_f > ts_v) is known; NEVER when there is none. A fraud counts as known at
    max(known_f, ts_f + 1 s), so that "known at t" also means "happened before t"."""
    f = np.flatnonzero(fraud)
    if not len(f):
        return np.full(len(ts), NEVER)
    span = int(ts.max() - ts.min() + 2)
    fkey = card[f].astype(np.int64) * span + (ts[f] - ts.min())
    o = np.argsort(fkey, kind="stable")
    fkey, fcard, fknown = fkey[o], card[f][o], np.maximum(known[f], ts[f] + 1)[o]
    # minimum known time over each card's frauds from this one on (a suffix minimum)
    suffix = _group_cummin(fknown[::-1], fcard[::-1])[::-1]
    idx = np.searchsorted(fkey, card.astype(np.int64) * span + (ts - ts.min()), side="right")
    at = np.minimum(idx, len(fkey) - 1)
    same = (idx < len(fkey)) & (fcard[at] == card)
    return np.where(same, suffix[at], NEVER)


def _group_cummin(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.Series(values).groupby(groups).cummin().to_numpy()


def window_pairs(card, ts, window_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, visit) index pairs: for every row, each row of its card in [t - W, t)."""
    span = int(ts.max() - ts.min() + 2 * window_s + 2)
    key = card.astype(np.int64) * span + (ts - ts.min() + window_s)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    lo = np.searchsorted(sk, key - window_s, side="left")
    n = np.searchsorted(sk, key, side="left") - lo
    rows = np.repeat(np.arange(len(ts)), n)
    visits = order[np.arange(n.sum()) + np.repeat(lo - (np.cumsum(n) - n), n)]
    return rows, visits


def cpoc(card, merchant, ts, fraud, known, window_s: int, near_s: int) -> dict[str, np.ndarray]:
    """Common point of compromise, per row (card c, time t), point in time.

    For each merchant m that c visited in [t - W, t): n_m = the OTHER cards c' that
    visited m (at v, in [t - W, t)) and have a fraud after that visit (v < ts_f < t) whose
    label is known at t. Columns: cpoc_max (max over m of n_m), cpoc_sum, cpoc_rate_max
    (max over m of n_m / the other cards' rows at m in [t - W, t)), cpoc_near_max (n_m
    counting only visits within `near_s` of one of c's own visits to m: a breach is a
    short period) and cpoc_near_rate_max (per own visit u: those cards / the other cards'
    rows at m in [u - near_s, min(u + near_s, t)); max over the visits). 0 when c visited
    no merchant in the window.
    """
    import pandas as pd

    after = fraud_known_after(card, ts, fraud, known)
    rows, visits = window_pairs(card, ts, window_s)
    tainted = np.flatnonzero(after < NEVER)
    pairs = pd.DataFrame({"r": rows, "m": merchant[visits], "u": ts[visits]})
    taint = pd.DataFrame({"m": merchant[tainted], "c2": card[tainted], "v": ts[tainted],
                          "k": after[tainted]})  # fmt: skip
    j = pairs.reset_index(names="p").merge(taint, on="m")
    r = j["r"].to_numpy()
    t, v = ts[r], j["v"].to_numpy()
    seen = (j["c2"].to_numpy() != card[r]) & (v < t) & (j["k"].to_numpy() <= t)
    near_ok = seen & (np.abs(v - j["u"].to_numpy()) <= near_s)
    broad = _per_pair_cards(j[seen & (v >= t - window_s)])
    own = pairs.groupby(["r", "m"]).size().rename("own").reset_index()
    own = own.merge(broad, on=["r", "m"], how="left").fillna({"n": 0})
    other = merchant_rows(merchant, ts, window_s, own["r"].to_numpy(), own["m"].to_numpy())
    other = other - own["own"].to_numpy()
    own["rate"] = np.where(other > 0, own["n"] / np.maximum(other, 1), 0.0)
    frames = {"cpoc_max": (broad, "n", "max"), "cpoc_sum": (broad, "n", "sum"),
              "cpoc_rate_max": (own, "rate", "max"),
              "cpoc_near_max": (_per_pair_cards(j[near_ok]), "n", "max"),
              "cpoc_near_rate_max": (_near_rate(pairs, j[near_ok], card, merchant, ts, near_s),
                                     "rate", "max")}  # fmt: skip
    out = {}
    for name, (frame, col, how) in frames.items():
        agg = frame.groupby("r")[col].agg(how)
        values = np.zeros(len(ts))
        values[agg.index.to_numpy()] = agg.to_numpy()
        out[name] = values
    return out


def _near_rate(pairs, j, card, merchant, ts, near_s: int):
    """(r, rate) per pair (row r, its card's visit to m at u): distinct other cards of `j`
    (tainted visits near u) / the other cards' rows at m in [u - near_s, min(u + near_s, t))."""
    cards = j.groupby("p")["c2"].nunique()
    n = np.zeros(len(pairs))
    n[cards.index.to_numpy()] = cards.to_numpy()
    r, m, u = (pairs[c].to_numpy() for c in ("r", "m", "u"))
    lo, hi = u - near_s, np.minimum(u + near_s, ts[r] - 1)
    width = int(merchant.max()) + 1
    other = interval_count(merchant, ts, m, lo, hi, near_s)
    other -= interval_count(card.astype(np.int64) * width + merchant, ts,
                            card[r].astype(np.int64) * width + m, lo, hi, near_s)  # fmt: skip
    rate = np.where(other > 0, n / np.maximum(other, 1), 0.0)
    return pairs[["r"]].assign(rate=rate)


def interval_count(group, ts, at_group, lo, hi, pad: int) -> np.ndarray:
    """Rows with group == at_group[i] and lo[i] <= ts <= hi[i] (lo >= ts.min() - pad)."""
    span = int(ts.max() - ts.min() + 2 * pad + 4)
    base = ts.min() - pad - 1
    sk = np.sort(group.astype(np.int64) * span + (ts - base))
    g = at_group.astype(np.int64) * span
    return np.searchsorted(sk, g + (hi - base), side="right") - np.searchsorted(
        sk, g + (lo - base), side="left"
    )


def _per_pair_cards(j):
    """(r, m, n): distinct other cards per (row, merchant)."""
    return (
        j[["r", "m", "c2"]].drop_duplicates().groupby(["r", "m"]).size().rename("n").reset_index()
    )


def merchant_rows(merchant, ts, window_s: int, rows: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Rows of merchant ms[i] with t - W <= ts < t, t = ts[rows[i]]."""
    span = int(ts.max() - ts.min() + 2 * window_s + 2)
    sk = np.sort(merchant.astype(np.int64) * span + (ts - ts.min() + window_s))
    at = ms.astype(np.int64) * span + (ts[rows] - ts.min() + window_s)
    return np.searchsorted(sk, at, side="left") - np.searchsorted(sk, at - window_s, side="left")


def cpoc_brute_force(card, merchant, ts, fraud, known, window_s, near_s, rows) -> dict:
    """cpoc for the given rows straight from its definition (Python loops), the check."""
    by_card, by_merchant, frauds = {}, {}, {}
    for i in range(len(ts)):
        by_card.setdefault(card[i], []).append(i)
        by_merchant.setdefault(merchant[i], []).append(i)
        if fraud[i]:
            frauds.setdefault(card[i], []).append(i)
    out = {k: [] for k in ("cpoc_max", "cpoc_sum", "cpoc_rate_max", "cpoc_near_max",
                           "cpoc_near_rate_max")}  # fmt: skip
    for r in rows:
        t, c = ts[r], card[r]
        mine = [i for i in by_card[c] if t - window_s <= ts[i] < t]
        n, near, rate, near_rate = {}, {}, {}, [0.0]
        for m in {merchant[i] for i in mine}:
            own_t = [ts[i] for i in mine if merchant[i] == m]
            others = [i for i in by_merchant[m] if card[i] != c and t - window_s <= ts[i] < t]
            hit = [i for i in by_merchant[m] if card[i] != c and ts[i] < t and any(
                ts[i] < ts[f] < t and known[f] <= t for f in frauds.get(card[i], []))]  # fmt: skip
            n[m] = len({card[i] for i in hit if ts[i] >= t - window_s})
            near[m] = len({card[i] for i in hit if any(abs(ts[i] - u) <= near_s for u in own_t)})
            rate[m] = n[m] / len(others) if others else 0.0
            for u in own_t:
                close = [i for i in by_merchant[m] if card[i] != c and abs(ts[i] - u) <= near_s
                         and ts[i] < t]  # fmt: skip
                hit_u = {card[i] for i in hit if abs(ts[i] - u) <= near_s}
                near_rate.append(len(hit_u) / len(close) if close else 0.0)
        out["cpoc_max"].append(max(n.values(), default=0))
        out["cpoc_sum"].append(sum(n.values()))
        out["cpoc_rate_max"].append(max(rate.values(), default=0.0))
        out["cpoc_near_max"].append(max(near.values(), default=0))
        out["cpoc_near_rate_max"].append(max(near_rate))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def check_cpoc(card, merchant, ts, fraud, known, window_s, near_s, got, n_rows=400) -> dict:
    """Brute force on sampled rows (half of them with a non-zero cpoc_max) and truncation:
    on the data cut at a time, with the labels not known then hidden, every earlier row's
    columns are unchanged. Raises AssertionError on any difference."""
    rng = np.random.default_rng(0)
    hot = np.flatnonzero(got["cpoc_max"] > 0)
    rows = np.concatenate([rng.choice(len(ts), n_rows // 2, replace=False),
                           rng.choice(hot, min(len(hot), n_rows // 2), replace=False)])  # fmt: skip
    ref = cpoc_brute_force(card, merchant, ts, fraud, known, window_s, near_s, rows)
    for name, values in ref.items():
        np.testing.assert_allclose(got[name][rows], values, rtol=1e-12, err_msg=name)
    cuts = [int(np.quantile(ts, q)) + 17 for q in (0.35, 0.7)]
    for cut in cuts:
        keep = ts < cut
        seen = fraud[keep] & (np.maximum(known[keep], ts[keep] + 1) <= cut)
        cut_got = cpoc(card[keep], merchant[keep], ts[keep], seen, known[keep], window_s, near_s)
        for name, values in cut_got.items():
            np.testing.assert_array_equal(values, got[name][keep], err_msg=f"{name} cut {cut}")
    return {"brute_force_rows": len(rows), "non_zero_rows": len(hot), "truncation_cuts": 2}


def add_cpoc(out, df, known, window_days: float = 30, near_days: float = 3) -> dict:
    """out + the cpoc columns for the labels known at `known` (seconds), checked."""
    import pandas as pd

    ts = _seconds(df["timestamp"])
    card = pd.factorize(df["card_id"])[0]
    merchant = pd.factorize(df["merchant_id"])[0]
    fraud = (df["label"] == 1).to_numpy()
    w, near = int(window_days * DAY_S), int(near_days * DAY_S)
    got = cpoc(card, merchant, ts, fraud, known, w, near)
    check = check_cpoc(card, merchant, ts, fraud, known, w, near, got)
    for name, values in got.items():
        out[f"{name}_30d"] = values
    return check


def _seconds(series) -> np.ndarray:
    return (series.astype("datetime64[us]").astype(np.int64) // 1_000_000).to_numpy()


def main() -> None:
    import pandas as pd

    p = argparse.ArgumentParser()
    p.add_argument("--transactions", type=int, default=200_000)
    p.add_argument("--days", type=int, default=63)
    p.add_argument("--fraud-rate", type=float, default=0.01)
    p.add_argument("--delay-days", type=float, default=7, help="delay-only mode's label delay")
    p.add_argument("--out", default="/tmp/q3")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    raw = raw_columns(args.transactions, args.days, args.fraud_rate, out)
    table = candidates(raw)
    df = pd.read_parquet(raw)
    ts = _seconds(df["timestamp"])
    checks = {}
    for mode, known in (("label_time", _seconds(df["label_time"])),
                        ("delay_only", ts + int(args.delay_days * DAY_S))):  # fmt: skip
        checks[mode] = add_cpoc(table, df, known)
        name = "candidates.parquet" if mode == "label_time" else f"candidates_{mode}.parquet"
        table.to_parquet(out / name)
        cols = [c for c in table.columns if c.startswith("cpoc_")]
        checks[mode]["means"] = {c: round(float(table[c].mean()), 4) for c in cols}
        checks[mode]["fraud_means"] = {
            c: round(float(table[c][df["label"] == 1].mean()), 4) for c in cols
        }
    print({"rows": len(table), "columns": list(table.columns)[1:], "checks": checks,
           "s": round(time.monotonic() - t0, 1)})  # fmt: skip


if __name__ == "__main__":
    main()
