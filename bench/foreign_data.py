"""Transaction data shaped like somebody else's: an independent simulator of the design
described in "Reproducible Machine Learning for Credit Card Fraud Detection - Practical
handbook" (Le Borgne, Siblini, Lebichot, Bontempi; chapter "Transaction data simulator").

Written from the handbook's prose description only (no code copied), so that the project
has a probe whose shape, column names and fraud scenarios were not chosen by us:

- customers at uniform locations on a 100 x 100 grid, each with a spending profile:
  mean amount ~ U(5, 100), std = mean / 2, mean transactions per day ~ U(0, 4);
- terminals at uniform locations on the same grid; a customer uses the terminals within
  Euclidean distance ``radius`` (5) of its location, uniformly;
- each day a customer makes Poisson(mean per day) transactions, at times drawn from a
  normal around noon (sd 20,000 s), dropped when outside the day; amounts normal with the
  customer's mean and std, negative draws redrawn (uniform on [0, 2 * mean]);
- fraud scenario 1: any amount above 220 is fraud;
- scenario 2: each day random terminals are compromised for the next 28 days: every
  transaction there in that period is fraud (the handbook: 2 a day of 10,000 terminals);
- scenario 3: each day random customers are compromised for the next 14 days: a third of
  their transactions in that period get their amount x 5 and are fraud (the handbook: 3 a
  day of 5,000 customers).

Smaller sets keep the handbook's proportions: the compromised terminals and customers per
day are Poisson draws with mean 2 / 10,000 of the terminals and 3 / 5,000 of the customers
(exactly 2 and 3 at the handbook's size), and two terminals per customer keep about one
transaction per terminal and day.

Output columns, in the handbook's naming: TRANSACTION_ID, TX_DATETIME (text
'YYYY-MM-DD HH:MM:SS'), CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD, TX_FRAUD_SCENARIO.
Deterministic for a seed. No label time: labels are known with a delay (7 days in the
handbook's set-up).

    python bench/foreign_data.py --customers 1000 --days 100 \
        --out /tmp/foreign/raw/transactions.csv
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = [
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
]
# fraud-app's `etl.columns` for these files: canonical name -> this data's column
MAPPING = {
    "transaction_id": "TRANSACTION_ID",
    "card_id": "CUSTOMER_ID",
    "merchant_id": "TERMINAL_ID",
    "timestamp": "TX_DATETIME",
    "amount": "TX_AMOUNT",
    "label": "TX_FRAUD",
}
DAY_S = 86_400


@dataclass(frozen=True)
class ForeignConfig:
    customers: int = 5_000
    terminals: int = 10_000
    days: int = 120
    start_date: str = "2018-04-01"
    radius: float = 5.0
    seed: int = 0

    @property
    def terminals_per_day(self) -> float:
        return 2 * self.terminals / 10_000

    @property
    def customers_per_day(self) -> float:
        return 3 * self.customers / 5_000


def _daily(rng: np.random.Generator, rate: float, population: int) -> np.ndarray:
    # the handbook's own size draws exactly `rate` a day; other sizes a Poisson count
    n = int(rate) if float(rate).is_integer() else int(rng.poisson(rate))
    return rng.choice(population, size=min(n, population), replace=False)


def _profiles(cfg: ForeignConfig, rng: np.random.Generator):
    xy_customers = rng.uniform(0, 100, size=(cfg.customers, 2))
    mean_amount = rng.uniform(5, 100, size=cfg.customers)
    std_amount = mean_amount / 2
    per_day = rng.uniform(0, 4, size=cfg.customers)
    xy_terminals = rng.uniform(0, 100, size=(cfg.terminals, 2))
    return xy_customers, mean_amount, std_amount, per_day, xy_terminals


def _reachable(xy_customers, xy_terminals, radius: float) -> list[np.ndarray]:
    """Per customer, the ids of the terminals within `radius` (in blocks, to bound memory)."""
    out: list[np.ndarray] = []
    for lo in range(0, len(xy_customers), 512):
        block = xy_customers[lo : lo + 512]
        d2 = ((block[:, None, :] - xy_terminals[None, :, :]) ** 2).sum(axis=2)
        out.extend(np.flatnonzero(row) for row in d2 < radius * radius)
    return out


def _genuine(cfg: ForeignConfig, rng: np.random.Generator) -> pd.DataFrame:
    xy_c, mean_a, std_a, per_day, xy_t = _profiles(cfg, rng)
    reach = _reachable(xy_c, xy_t, cfg.radius)
    counts = rng.poisson(np.repeat(per_day[None, :], cfg.days, axis=0))  # days x customers
    day_idx, cust_idx = np.nonzero(counts)
    reps = counts[day_idx, cust_idx]
    day = np.repeat(day_idx, reps)
    cust = np.repeat(cust_idx, reps)
    secs = np.rint(rng.normal(DAY_S / 2, 20_000, size=len(cust))).astype(np.int64)
    n_reach = np.array([len(r) for r in reach])
    keep = (secs >= 0) & (secs < DAY_S) & (n_reach[cust] > 0)
    day, cust, secs = day[keep], cust[keep], secs[keep]
    amount = rng.normal(mean_a[cust], std_a[cust])
    neg = amount < 0
    amount[neg] = rng.uniform(0, 2 * mean_a[cust[neg]])
    pick = np.floor(rng.uniform(size=len(cust)) * n_reach[cust]).astype(np.int64)
    terminal = np.array([reach[c][p] for c, p in zip(cust, pick, strict=True)], dtype=np.int64)
    frame = pd.DataFrame({
        "tx_time_s": day * DAY_S + secs,
        "tx_time_days": day,
        "CUSTOMER_ID": cust,
        "TERMINAL_ID": terminal,
        "TX_AMOUNT": np.round(amount, 2),
    })  # fmt: skip
    return frame.sort_values(["tx_time_s", "CUSTOMER_ID"], kind="stable").reset_index(drop=True)


def _frauds(frame: pd.DataFrame, cfg: ForeignConfig, rng: np.random.Generator) -> None:
    fraud = np.zeros(len(frame), dtype=np.int64)
    scenario = np.zeros(len(frame), dtype=np.int64)
    amount = frame["TX_AMOUNT"].to_numpy().copy()
    day = frame["tx_time_days"].to_numpy()
    # (1) any amount above 220
    s1 = amount > 220
    fraud[s1], scenario[s1] = 1, 1
    terminal = frame["TERMINAL_ID"].to_numpy()
    customer = frame["CUSTOMER_ID"].to_numpy()
    for d in range(cfg.days):
        # (2) compromised terminals: all their transactions of days [d, d + 28)
        bad_t = _daily(rng, cfg.terminals_per_day, cfg.terminals)
        s2 = np.isin(terminal, bad_t) & (day >= d) & (day < d + 28)
        fraud[s2], scenario[s2] = 1, 2
        # (3) compromised customers: a third of their transactions of days [d, d + 14)
        bad_c = _daily(rng, cfg.customers_per_day, cfg.customers)
        rows = np.flatnonzero(np.isin(customer, bad_c) & (day >= d) & (day < d + 14))
        if len(rows):
            hit = rng.choice(rows, size=len(rows) // 3, replace=False)
            amount[hit] = np.round(amount[hit] * 5, 2)
            fraud[hit], scenario[hit] = 1, 3
    frame["TX_AMOUNT"], frame["TX_FRAUD"], frame["TX_FRAUD_SCENARIO"] = amount, fraud, scenario


def simulate(cfg: ForeignConfig) -> pd.DataFrame:
    """The data set as a DataFrame in the handbook's columns, sorted by time."""
    rng = np.random.default_rng(cfg.seed)
    frame = _genuine(cfg, rng)
    _frauds(frame, cfg, rng)
    start = pd.Timestamp(cfg.start_date)
    stamps = start + pd.to_timedelta(frame["tx_time_s"], unit="s")
    frame["TX_DATETIME"] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["TRANSACTION_ID"] = np.arange(len(frame))
    return frame[COLUMNS]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000)
    p.add_argument("--terminals", type=int, default=None, help="default: 2 x customers")
    p.add_argument("--days", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="CSV file to write")
    args = p.parse_args()
    terminals = args.terminals or 2 * args.customers
    cfg = ForeignConfig(args.customers, terminals, args.days, seed=args.seed)
    frame = simulate(cfg)
    frame.to_csv(args.out, index=False)
    counts = frame["TX_FRAUD_SCENARIO"].value_counts().sort_index()
    print(json.dumps({
        "rows": len(frame), "fraud_rate": round(float(frame["TX_FRAUD"].mean()), 5),
        "by_scenario": {str(k): int(v) for k, v in counts.items()}, "out": args.out,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
