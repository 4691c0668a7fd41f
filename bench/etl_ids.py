"""Benchmark: what the id normalisation (Unicode NFC and integral decimals, rule
`inexact_id` for fractions: fraud_app.etl.parsing.id_text) costs a replace-mode ETL of
`--rows` CSV records, the code before it (`--old-rev`) against this checkout.

Ids: card_id integers as text, merchant_id mostly ASCII with `--non-ascii` of them
accented (half NFC, half NFD), transaction_id and device_id ASCII. Each run is its own
process (fresh Spark local[2], a tiny ETL first, untimed), old and new alternating; the
time is the wall time of run_etl. The new code merges each NFD merchant with its NFC
twin, so `merchants` (distinct merchant_id in the table) is smaller for it.

    .venv/bin/python bench/etl_ids.py --rows 100000 --rounds 3

The last line printed is one JSON object: the seconds of every run, the medians, the
ratio new/old and the load average of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from etl_append import CONF, HEADER, REPO, load_avg, old_source


def make_input(path: Path, rows: int, non_ascii: float) -> None:
    rng = random.Random(11)
    lines = [HEADER + ",device_id"]
    for i in range(rows):
        m = rng.randrange(2000)
        merchant = f"m{m}"
        if rng.random() < non_ascii:
            form = "NFC" if rng.random() < 0.5 else "NFD"
            merchant = unicodedata.normalize(form, f"café-{m % 200}")
        lines.append(f"t{i},{rng.randrange(20000)},{merchant},2024-01-{1 + i % 28:02d} "
                     f"10:00:00,{rng.randrange(1, 9999) / 100},0,d{rng.randrange(500)}")  # fmt: skip
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")


def one_run(root: Path, src: Path) -> dict:
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.spark.session import get_spark

    def cfg(r: Path, s: Path):
        etl = {"input": str(s), "timestamp_format": "yyyy-MM-dd HH:mm:ss"}
        return load_config(None, {"paths.root": str(r), "etl": etl})

    spark = get_spark("local[2]", "bench-etl-ids", CONF)
    warm = root / "warm.csv"
    warm.write_text(f"{HEADER}\nw1,c1,m1,2024-01-01 10:00:00,1.5,0\n")
    run_etl(spark, cfg(root / "warm", warm))
    started = time.monotonic()
    r = run_etl(spark, cfg(root / "main", src))
    wall = round(time.monotonic() - started, 3)
    merchants = spark.read.parquet(r.output_path).select("merchant_id").distinct().count()
    return {"seconds": wall, "output_rows": r.output_rows, "merchants": merchants}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--non-ascii", type=float, default=0.1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--old-rev", default="4bab838", help="the commit before id_text")
    p.add_argument("--old-src", help="a checkout of the old code (instead of --old-rev)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(one_run(*map(Path, a.child))))
        return
    work = Path(tempfile.mkdtemp(prefix="etl-ids-"))
    try:
        src = work / "in" / "tx.csv"
        make_input(src, a.rows, a.non_ascii)
        sources = {"old": old_source(work, a.old_rev, a.old_src), "new": REPO}
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for i in range(a.rounds):
            for impl in ("old", "new") if i % 2 == 0 else ("new", "old"):
                root = work / f"run-{impl}-{i}"
                root.mkdir()
                runs[impl].append({**_child(sources[impl], root, src), "load": load_avg()[0]})
                shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    print(json.dumps({
        "bench": "etl_ids", "rows": a.rows, "non_ascii": a.non_ascii, "old_rev": a.old_rev,
        **{f"{k}_seconds": [r["seconds"] for r in v] for k, v in runs.items()},
        "median_old_s": med["old"], "median_new_s": med["new"],
        "ratio_new_old": round(med["new"] / med["old"], 3),
        "merchants": {k: v[0]["merchants"] for k, v in runs.items()},
        "loads": {k: [r["load"] for r in v] for k, v in runs.items()},
    }))  # fmt: skip


def _child(src_dir: Path, root: Path, data: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{src_dir}{os.pathsep}{Path(__file__).parent}",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), str(data)]
    out = subprocess.run(cmd, env=env, cwd=src_dir, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child run failed ({src_dir}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
