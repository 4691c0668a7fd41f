"""`HadoopFs.write_text` (a table's `_files.json`, `_committing.json`, the append report)
writes a file whole or not at all (session 31, helper probe31b). It wrote in place: a disk
that filled part-way through an in-place update of `_files.json` left a truncated record
and lost the old one. A write past the process's file-size limit (`ulimit -f`, SIGXFSZ
ignored, so the JVM's write fails with EFBIG as on a full disk) stands for the full disk:
unprivileged.

The two cases that need a JVM of their own (the file-size limit, an HDFS-like file system
on its class path) run in ONE child process (`child`, for the module): one JVM start
instead of two (session 45); each test reads its own lines of the child's output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fraud_app.etl.fs import HadoopFs

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]

# the file-size limit: a new text longer than it fails part-way, as on a full disk
LIMITED = """
    fs.write_text({local!r}, '{{"old": 1}}')
    try:
        fs.write_text({local!r}, "x" * 200000)
    except Exception as exc:
        print("local failed:", "File too large" in str(exc))
    print("local read:", fs.read_text({local!r}))
"""
# HDFS's rename onto an existing file refused (HdfsLikeFileSystem), then a rename that works
HDFS_LIKE = """
    fs.write_text({uri!r}, '{{"old": 1}}')
    try:
        fs.write_text({uri!r}, '{{"new": 2}}')
    except Exception as exc:
        print("hdfs failed:", "injected" in str(exc))
    print("hdfs read:", fs.read_text({uri!r}))
    fs.write_text({uri!r}, '{{"new": 3}}')  # a rename that works: replaced
    print("hdfs read:", fs.read_text({uri!r}))
"""


def _hdfs_like(out: Path) -> Path | None:
    """tests/fraud_app/etl/java/HdfsLikeFileSystem.java compiled against Spark's Hadoop
    into `out`; None without javac."""
    javac = shutil.which("javac")
    if javac is None:
        return None
    import pyspark

    api = next((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    subprocess.run(
        [javac, "-cp", str(api), "-d", str(out), str(ROOT / "tests/fraud_app/etl/java/HdfsLikeFileSystem.java")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def child(tmp_path_factory) -> dict:
    """One child process under a 64 KiB file-size limit whose JVM also has the HDFS-like
    file system (`hdfslike:`) on its class path: the LIMITED writes in `local`/_files.json,
    then (with javac) the HDFS_LIKE ones in `hdfs`/table/_files.json. Its output lines by
    part, stderr, and the folders."""
    local, hdfs = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("hdfs")
    classes = _hdfs_like(tmp_path_factory.mktemp("classes"))
    target, hdfs_target = local / "_files.json", hdfs / "table" / "_files.json"
    conf = {"spark.ui.enabled": "false"}
    if classes is not None:
        conf.update({
            "spark.driver.extraClassPath": str(classes),
            "spark.hadoop.fs.hdfslike.impl": "HdfsLikeFileSystem",
            "spark.hadoop.fs.hdfslike.impl.disable.cache": "true",
            "spark.hadoop.hdfslike.fail_rename_to": "_files.json",
        })  # fmt: skip
    code = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        from fraud_app.etl.fs import HadoopFs
        from fraud_app.spark.session import get_spark
        fs = HadoopFs(get_spark("local[1]", conf={conf!r}))
    """) + textwrap.dedent(LIMITED.format(local=str(target)))
    if classes is not None:
        code += textwrap.dedent(HDFS_LIKE.format(uri=f"hdfslike://{hdfs_target}"))
    # no .pyc: one written under the file-size limit is cut short (a short write that
    # CPython renames into place) and breaks every later import of that module. The
    # child's cold JVM makes a few file-system calls and ends: its JIT C1 only (spark-submit
    # puts SPARK_SUBMIT_OPTS on the driver JVM's command line, silently; session 50)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "SPARK_SUBMIT_OPTS": "-XX:TieredStopAtLevel=1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    lines: dict[str, list[str]] = {"local": [], "hdfs": []}
    for line in done.stdout.splitlines():
        part, _, said = line.partition(" ")
        lines.setdefault(part, []).append(said)
    return {"lines": lines, "out": done.stdout + done.stderr[-3000:], "local": local,
            "hdfs": hdfs_target.parent if classes is not None else None}  # fmt: skip


def test_a_write_that_fails_part_way_keeps_the_old_file(child):
    target = child["local"] / "_files.json"
    assert set(child["lines"]) == {"local", "hdfs"}, child["out"]  # no other line printed
    assert child["lines"]["local"] == ["failed: True", 'read: {"old": 1}'], child["out"]
    assert target.read_text() == '{"old": 1}'  # was 65,536 bytes of the new text
    assert sorted(p.name for p in target.parent.iterdir()) == ["._files.json.crc", "_files.json"]


def test_a_file_is_replaced_whole_with_its_checksum(spark, tmp_path):
    fs = HadoopFs(spark)
    target = str(tmp_path / "_report.json")
    fs.write_text(target, "first")
    fs.write_text(target, "second, longer")
    assert fs.read_text(target) == "second, longer"  # Hadoop's .crc matches the new text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["._report.json.crc", "_report.json"]


def test_a_record_on_a_file_system_that_refuses_rename_over_keeps_the_old_one(child):
    """HDFS (and object stores) refuse a rename onto an existing file: write_text deleted
    the old record first, then renamed the new one in; when that rename failed (a NameNode
    fail-over, a lost connection), its cleanup deleted the new one too: no record at all.
    A real Hadoop FileSystem with HDFS's rename (a local one, `hdfslike:`), in a child
    process whose JVM loads it."""
    if child["hdfs"] is None:
        pytest.skip("javac not found: the HDFS-like file system is compiled for this test")
    assert set(child["lines"]) == {"local", "hdfs"}, child["out"]  # no other line printed
    assert child["lines"]["hdfs"] == ["failed: True", 'read: {"old": 1}', 'read: {"new": 3}'], (
        child["out"]
    )  # was: failed, then FileNotFoundError (the old record deleted, the new one too)
    assert sorted(p.name for p in child["hdfs"].iterdir()) == ["_files.json"]
