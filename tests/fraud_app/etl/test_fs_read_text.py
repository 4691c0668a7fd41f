"""HadoopFs.read_text reads a file in one call. It read it line by line through the JVM (a
Py4J round trip per line), and a table's `_files.json` has lines per data file: a `score`
of one day paid 3,284 round trips for it at 180 dates (1,184 at 30), O(dates) on every
daily run of a backfilled table (docs/PROBES.md, session 39, helper backfill39)."""

from __future__ import annotations

import json

import pytest

from fraud_app.etl.fs import HadoopFs
from tests.fraud_app.scoring.test_unscored_dates import _round_trips

pytestmark = pytest.mark.spark


def _java_lines(spark, path: str) -> str:
    """The text as the readLine loop read it (the reference)."""
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    stream = p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(p)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        while (line := reader.readLine()) is not None:
            lines.append(line)
        return "\n".join(lines)
    finally:
        stream.close()


def test_a_long_record_is_read_in_a_few_round_trips(spark, tmp_path, monkeypatch) -> None:
    record = {"files": [{"path": f"event_date=2024-01-{d % 28 + 1:02d}/part-{d}.parquet",
                         "bytes": d} for d in range(730)]}  # fmt: skip
    path = tmp_path / "_files.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    fs = HadoopFs(spark)
    sent = _round_trips(spark, monkeypatch)
    text = fs.read_text(str(path))
    assert json.loads(text) == record
    # base: 2,974 (a readLine per line); now the same few whatever its length
    assert len(sent) <= 12, f"{len(sent)} Py4J round trips for {text.count(chr(10)) + 1} lines"


TEXTS = [b"", b"\n", b"x", b"a\nb\n", b"a\r\nb\rc\n\n", b"\n\n", b"\r", b"a\r\n",
         "caf\u00e9 \u20ac \u2028 \u0085".encode(), b"bad \xff\xfe byte \xe2\x82 cut",
         "\ufeffbom".encode()]  # fmt: skip


@pytest.mark.parametrize("data", TEXTS)
def test_the_text_is_the_one_the_line_loop_read(spark, tmp_path, data: bytes) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    assert HadoopFs(spark).read_text(str(path)) == _java_lines(spark, str(path))
