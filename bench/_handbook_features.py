"""The handbook's own baseline features (Le Borgne et al., chapter "Baseline feature
transformation"), written from its description, as a named peer for bench/foreign.py.

Per transaction, from the raw columns (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT,
TX_FRAUD):
- TX_AMOUNT; TX_DURING_WEEKEND (Saturday, Sunday); TX_DURING_NIGHT (hour <= 6);
- the customer's number of transactions and mean amount over the last 1, 7 and 30 days
  (window (t - W, t], the current transaction included, as the handbook's rolling windows);
- the terminal's number of transactions and risk (frauds / transactions) over the W days
  that end one label delay before the transaction, (t - delay - W, t - delay], W = 1, 7,
  30; 0 when the window is empty. Labels in those windows are settled (older than the
  delay), so nothing unknown at t is used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_S = 86_400
WINDOWS = (1, 7, 30)


def _window_sums(keys: np.ndarray, t: np.ndarray, values: np.ndarray, lo_s, hi_s):
    """Per row i: sum of `values` over rows j with keys[j] == keys[i] and
    t[i] - lo_s < t[j] <= t[i] - hi_s. Rows sorted by (keys, t)."""
    composite = keys.astype(np.float64) * 1e10 + t  # t < 1e10 s since the data's start
    cum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    hi = np.searchsorted(composite, composite - hi_s, side="right")
    lo = np.searchsorted(composite, composite - lo_s, side="right")
    return cum[hi] - cum[lo]


def handbook_features(raw: pd.DataFrame, delay_days: float = 7) -> pd.DataFrame:
    """TRANSACTION_ID + the 15 handbook features, one row per raw transaction."""
    stamp = pd.to_datetime(raw["TX_DATETIME"])
    t = ((stamp - stamp.min()).dt.total_seconds()).to_numpy(np.float64)
    out = pd.DataFrame({"TRANSACTION_ID": raw["TRANSACTION_ID"].to_numpy()})
    out["TX_AMOUNT"] = raw["TX_AMOUNT"].to_numpy(np.float64)
    out["TX_DURING_WEEKEND"] = (stamp.dt.weekday >= 5).astype(np.int8).to_numpy()
    out["TX_DURING_NIGHT"] = (stamp.dt.hour <= 6).astype(np.int8).to_numpy()
    amount = out["TX_AMOUNT"].to_numpy()
    fraud = raw["TX_FRAUD"].to_numpy(np.float64)
    ones = np.ones(len(raw))
    for key, prefix in (("CUSTOMER_ID", "CUSTOMER_ID"), ("TERMINAL_ID", "TERMINAL_ID")):
        order = np.lexsort((t, raw[key].to_numpy()))
        k, ts = raw[key].to_numpy()[order], t[order]
        for w in WINDOWS:
            if prefix == "CUSTOMER_ID":  # (t - W, t], the current one included
                n = _window_sums(k, ts, ones, w * DAY_S, 0)
                s = _window_sums(k, ts, amount[order], w * DAY_S, 0)
                cols = {f"NB_TX_{w}DAY_WINDOW": n, f"AVG_AMOUNT_{w}DAY_WINDOW": s / n}
            else:  # (t - delay - W, t - delay]
                lag = delay_days * DAY_S
                n = _window_sums(k, ts, ones, lag + w * DAY_S, lag)
                f = _window_sums(k, ts, fraud[order], lag + w * DAY_S, lag)
                risk = np.divide(f, n, out=np.zeros_like(f), where=n > 0)
                cols = {f"NB_TX_{w}DAY_WINDOW": n, f"RISK_{w}DAY_WINDOW": risk}
            for name, values in cols.items():
                col = np.empty(len(raw))
                col[order] = values
                out[f"{prefix}_{name}"] = col
    return out
