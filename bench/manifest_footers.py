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

`--score-run`: instead, the footer reads of one `fraud-app score` that computes its
features (session 34), on a table of `--files` daily partitions with the canonical
optional columns: the `_files.json` check of the canonical table (every file), the
emptied-input counts (`scoring.input_fill.footer_counts`: the last 29 dates) and the
provenance digest (`scoring.provenance.source_files`: every date up to the last), each
reading the footers itself (before) or all through one `manifest.FooterCache` (now);
alternated per round, on the local disk (Python reads, as `score` on a local table) and
through Hadoop (`local=False`: the path of HDFS and object stores). Same results asserted.

    .venv/bin/python bench/manifest_footers.py --score-run --files 365 --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

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


def _readers(fs: HadoopFs, table: str, days: int, local: bool) -> list:
    """What one computed `score` reads of the canonical table's footers (the last of `days`
    dates scored), as three calls taking the cache: the `_files.json` check, the
    emptied-input counts and the provenance digest; through Hadoop, the same files read
    by `manifest.footers` / `footers_bytes` with `local=False`."""
    import datetime as dt

    from fraud_app.scoring.input_fill import HISTORY_DAYS, footer_counts
    from fraud_app.scoring.provenance import source_files

    last = dt.date(2024, 1, 1) + dt.timedelta(days=days - 1)
    if local:
        return [
            lambda c: manifest.verify(fs, table, "canonical table", "etl", c),
            lambda c: footer_counts(fs, table, ["mcc", "channel"], last, last, c),
            lambda c: source_files(fs, table, None, last, c),
        ]
    files = fs.list_sizes(table)
    since = str(last - dt.timedelta(days=HISTORY_DAYS))
    late = [f for f in files if f[0].split("event_date=")[1][:10] >= since]
    return [
        lambda c: manifest.footers(fs, files, False, c),
        lambda c: manifest.footers_bytes(fs, late, False, c),
        lambda c: manifest.footers(fs, files, False, c),
    ]


def _jvm_cpu_s(spark) -> float:
    """utime + stime of the Spark JVM (every thread), in seconds."""
    pid = spark.sparkContext._gateway.proc.pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def score_run(spark, a) -> None:
    """`--score-run` (module doc)."""
    with tempfile.TemporaryDirectory() as tmp:
        table = os.path.join(tmp, "canonical")
        spark.range(0, a.files * 200).selectExpr(
            "cast(id as string) as transaction_id",
            f"date_add(date'2024-01-01', cast(id % {a.files} as int)) as event_date",
            "rand(3) * 100 as amount",
            "if(rand(4) < 0.1, null, cast(cast(rand(5) * 50 as int) as string)) as mcc",
            "if(rand(6) < 0.3, null, 'POS') as channel",
        ).repartition(a.files, "event_date").write.partitionBy("event_date").parquet(table)
        fs = HadoopFs(spark)
        manifest.record(fs, table)
        out = {}
        for where, local in (("local_disk", True), ("hadoop", False)):
            readers = _readers(fs, table, a.files, local)
            secs: dict[str, list[float]] = {"before": [], "now": []}
            cpu: dict[str, list[float]] = {"before": [], "now": []}
            reads = {"before": 0, "now": 0}
            for _ in range(a.rounds):
                results = {}
                for mode in ("before", "now"):
                    shared = manifest.FooterCache()
                    t, c = time.perf_counter(), time.process_time() + _jvm_cpu_s(spark)
                    if mode == "before":  # each reader reads for itself
                        results[mode] = [read(None) for read in readers]
                    else:
                        results[mode] = [read(shared) for read in readers]
                    secs[mode].append(round(time.perf_counter() - t, 3))
                    cpu[mode].append(round(time.process_time() + _jvm_cpu_s(spark) - c, 2))
                    reads["now"] = shared.reads
                assert results["before"] == results["now"], "the results differ"
            for read in readers:  # the reads before: each reader's files (counted apart)
                own = manifest.FooterCache()
                read(own)
                reads["before"] += own.reads
            ratio = statistics.median(secs["before"]) / statistics.median(secs["now"])
            out[where] = {"seconds": secs, "cpu_s_python_and_jvm": cpu, "files_read": reads,
                          "median_ratio": round(ratio, 2)}  # fmt: skip
    print(json.dumps({"files": a.files, "cpus": os.cpu_count(),
                      "load_avg_1m": round(os.getloadavg()[0], 2), **out}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--score-run", action="store_true", help="one score run's reads (doc)")
    a = ap.parse_args()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    if a.score_run:
        score_run(spark, a)
        return
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
