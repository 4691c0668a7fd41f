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

Writes <out>/candidates.parquet keyed by transaction_id; the sweep appends the columns a
configuration names (`"extra": [...]`) to the feature vector of BOTH models.

    PYTHONPATH=. python bench/backtest_candidates.py --transactions 200000 --out /tmp/q3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DAY_S = 86_400
CAT_COLUMNS = ("mcc", "channel", "country", "card_country", "device_id")


def raw_columns(transactions: int, days: int, fraud_rate: float, out: Path) -> Path:
    """The generator's rows (bench/backtest.py's data flags), the columns the sweep lacks."""
    import bench.backtest as b
    from fraud_app.data.generator import generate_transactions
    from fraud_app.spark.session import get_spark

    path = out / "raw.parquet"
    if path.exists():
        return path
    args = argparse.Namespace(transactions=transactions, days=days, fraud_rate=fraud_rate,
                              train_days=21, baseline="xgboost")  # fmt: skip
    cfg = b._config(out, "label_time", args, {})
    spark = get_spark("local[2]", "q3-candidates", {"spark.sql.shuffle.partitions": "4"})
    df = generate_transactions(spark, cfg.generate)
    df.select("transaction_id", "card_id", "merchant_id", "timestamp", *CAT_COLUMNS).toPandas(
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
    ts = (df["timestamp"].astype("datetime64[us]").astype(np.int64) // 1_000_000).to_numpy()
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--transactions", type=int, default=200_000)
    p.add_argument("--days", type=int, default=63)
    p.add_argument("--fraud-rate", type=float, default=0.01)
    p.add_argument("--out", default="/tmp/q3")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    raw = raw_columns(args.transactions, args.days, args.fraud_rate, out)
    table = candidates(raw)
    table.to_parquet(out / "candidates.parquet")
    print({"rows": len(table), "columns": list(table.columns)[1:],
           "s": round(time.monotonic() - t0, 1)})  # fmt: skip


if __name__ == "__main__":
    main()
