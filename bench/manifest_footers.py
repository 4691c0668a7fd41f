"""Benchmark: the Parquet footer reads of a table's `_files.json` check through Hadoop (the
path every step takes on HDFS and object stores), this checkout's `manifest.footers`
(one tail read per file, 16 files at a time) against the reads before it (two reads per
file, one file after the other: its code is kept below as the peer), on a local table of
`--files` date partitions read through Hadoop's local FileSystem.

A local disk has no network round trip, so this measures the py4j calls per file only; on
an object store the peer's wait is two round trips per file in series, ours about two per
16 files.

    .venv/bin/python bench/manifest_footers.py --files 600 --rounds 3

The last line printed is one JSON object: seconds per round of each, the medians and
their ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time

from pyspark.sql import SparkSession

from fraud_app.etl import manifest
from fraud_app.etl.fs import HadoopFs


def peer(fs: HadoopFs, files: list[tuple[str, int]]) -> list[str]:
    """The footer reads of commit e728a53: 8 bytes, then the footer, file after file."""
    out = []
    for path, size in files:
        tail = fs.read_range(path, size - 8, 8)
        n = int.from_bytes(tail[:4], "little")
        out.append(hashlib.sha256(fs.read_range(path, size - 8 - n, n)).hexdigest()[:16])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        table = os.path.join(tmp, "table")
        spark.range(0, a.files * 50).selectExpr(
            "id", f"cast(id % {a.files} as int) as d", "rand(3) as x"
        ).repartition(a.files, "d").write.partitionBy("d").parquet(table)
        fs = HadoopFs(spark)
        files = fs.list_sizes(table)
        ours_s, peer_s = [], []
        for _ in range(a.rounds):
            t = time.perf_counter()
            theirs = peer(fs, files)
            peer_s.append(round(time.perf_counter() - t, 3))
            t = time.perf_counter()
            ours = manifest.footers(fs, files, local=False)
            ours_s.append(round(time.perf_counter() - t, 3))
            assert ours == theirs, "the digests differ"
    print(json.dumps({
        "files": len(files),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "seconds": {"ours": ours_s, "peer_sequential_two_reads": peer_s},
        "footer_reads_speedup_vs_sequential": round(
            statistics.median(peer_s) / statistics.median(ours_s), 2
        ),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
