"""The Parquet footer digests of `_files.json` read through Hadoop (the path taken on HDFS
and object stores: one tail read per file, several files at a time) equal the ones read
with Python on a local disk, and both equal the sha256 of the footer bytes themselves."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fraud_app.etl import manifest
from fraud_app.etl.fs import HadoopFs


def _expected(path: str) -> str:
    """The digest, from the whole file's bytes."""
    data = Path(path.removeprefix("file:")).read_bytes()
    if len(data) < 12:
        return "short"
    n = int.from_bytes(data[-8:-4], "little")
    if data[-4:] != b"PAR1" or n + 12 > len(data):
        return "nofooter-" + hashlib.sha256(data[-8:]).hexdigest()[:16]
    return hashlib.sha256(data[-8 - n : -8]).hexdigest()[:16]


def test_hadoop_and_local_footer_reads_agree(spark, tmp_path):
    table = tmp_path / "table"
    spark.range(0, 400).selectExpr("id", "cast(id % 4 as int) as d").write.partitionBy("d").parquet(
        str(table / "narrow")
    )
    # 1,500 columns: a footer several times manifest.TAIL, read in two reads
    wide = spark.range(0, 3).selectExpr(*[f"id + {i} as c{i}" for i in range(1500)])
    wide.coalesce(1).write.parquet(str(table / "wide"))
    (table / "notparquet.bin").write_bytes(b"x" * 100)
    (table / "tiny.bin").write_bytes(b"PAR1")
    fs = HadoopFs(spark)
    files = fs.list_sizes(str(table))
    assert max(size for _, size in files) > 2 * manifest.TAIL
    expected = [_expected(path) for path, _ in files]
    assert len(set(expected)) == len(files)  # every case differs
    assert any(e.startswith("nofooter-") for e in expected) and "short" in expected
    assert manifest.footers(fs, files, local=True) == expected
    assert manifest.footers(fs, files, local=False) == expected


def test_a_footer_cache_reads_each_file_once_and_holds_bytes_within_its_budget(spark, tmp_path):
    """`score` hands one FooterCache to its three readers of the same files (session 34):
    the digests and the footers equal those read without it, each file is read once, and
    past its byte budget a footer asked for again is read again rather than held."""
    table = tmp_path / "table"
    spark.range(0, 400).selectExpr("id", "cast(id % 4 as int) as d").write.partitionBy("d").parquet(
        str(table)
    )
    (table / "notparquet.bin").write_bytes(b"x" * 100)
    (table / "tiny.bin").write_bytes(b"PAR1")
    fs = HadoopFs(spark)
    files = fs.list_sizes(str(table))
    digests = manifest.footers(fs, files, local=False)
    footers = manifest.footers_bytes(fs, files, local=False)
    assert digests == [_expected(path) for path, _ in files]
    long = sum(1 for _, size in files if size >= 12)  # "tiny.bin" is never read
    for local in (True, False):
        cache = manifest.FooterCache()
        assert manifest.footers(fs, files, local, cache) == digests
        assert manifest.footers_bytes(fs, files[1:], local, cache) == footers[1:]
        assert manifest.footers(fs, files, local, cache) == digests
        assert cache.reads == long
        small = manifest.FooterCache(max_bytes=0)  # digests kept, no footer bytes
        assert manifest.footers(fs, files, local, small) == digests
        assert manifest.footers_bytes(fs, files, local, small) == footers
        assert small.reads == long + sum(f is not None for f in footers)
