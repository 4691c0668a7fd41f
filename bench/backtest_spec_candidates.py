"""Exploration: candidate features written in the SPEC LANGUAGE, computed by the product's
compiler (fraud_app.features.compile) on the benchmark's transactions, for
bench/backtest_sweep.py's `--extra`.

Regenerates bench/backtest.py's rows (the generator is deterministic: the same data flags
give the same transaction ids as the feature tables it wrote), computes every feature of
the spec files in `--spec-dir` (label-free features are the same in both label modes; a
spec using labels is computed with label_time, i.e. for the label_time mode only), and
writes <out>/<name>.parquet keyed by transaction_id: first the columns copied from
`--carry` (e.g. run 4's novelty counts of /tmp/q4/candidates.parquet, so that one file
serves a configuration's whole `extra` list), then the spec features in spec order.

    PYTHONPATH=. python bench/backtest_spec_candidates.py --transactions 200000 \
        --spec-dir /tmp/q8/specs --out /tmp/q8/cand200k.parquet \
        --carry /tmp/q4/candidates.parquet:card_same_merchant_id_count_30d,card_same_device_id_count_30d
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    import pandas as pd

    import bench.backtest as b
    from fraud_app.data.generator import generate_transactions
    from fraud_app.features.compile import compute_features
    from fraud_app.features.spec import load_feature_set, spec_paths
    from fraud_app.spark.session import get_spark

    p = argparse.ArgumentParser()
    p.add_argument("--transactions", type=int, default=200_000)
    p.add_argument("--days", type=int, default=63)
    p.add_argument("--fraud-rate", type=float, default=0.01)
    p.add_argument("--spec-dir", required=True)
    p.add_argument("--out", required=True, help="the parquet file to write")
    p.add_argument("--carry", default=None, help="PARQUET:col,col copied first (by transaction_id)")
    args = p.parse_args()
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    ns = argparse.Namespace(transactions=args.transactions, days=args.days,
                            fraud_rate=args.fraud_rate, train_days=21, baseline="xgboost",
                            spec_dir=None)  # fmt: skip
    cfg = b._config(Path("/tmp/unused-spec-candidates"), "label_time", ns, {})
    spark = get_spark("local[2]", "spec-candidates", {"spark.sql.shuffle.partitions": "4",
                                                      "spark.driver.memory": "4g"})  # fmt: skip
    fs = load_feature_set(spec_paths(args.spec_dir), label_delay_days=7)
    result = compute_features(generate_transactions(spark, cfg.generate), fs, vector_column=None)
    names = list(result.feature_names)
    table = result.df.select("transaction_id", *names).toPandas()
    spark.stop()
    if args.carry:
        path, cols = args.carry.split(":")
        carried = pd.read_parquet(path, columns=["transaction_id", *cols.split(",")])
        table = carried.merge(table, on="transaction_id", how="inner", validate="1:1")
        if len(table) != len(carried):
            raise ValueError(
                f"{path} and the regenerated rows differ: {len(carried)} vs {len(table)}"
            )
    table.to_parquet(args.out)
    print(json.dumps({"rows": len(table), "columns": list(table.columns)[1:],
                      "skipped": [s.name for s in result.skipped],
                      "means": {n: round(float(table[n].mean()), 4) for n in names},
                      "s": round(time.monotonic() - t0, 1), "load_avg_1m_start": round(load0, 2),
                      "load_avg_1m_end": round(os.getloadavg()[0], 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
