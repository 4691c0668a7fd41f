"""`HadoopFs.write_text` (a table's `_files.json`, `_committing.json`, the append report)
writes a file whole or not at all (session 31, helper probe31b). It wrote in place: a disk
that filled part-way through an in-place update of `_files.json` left a truncated record
and lost the old one. A write past the process's file-size limit (`ulimit -f`, SIGXFSZ
ignored, so the JVM's write fails with EFBIG as on a full disk) stands for the full disk:
unprivileged."""

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


def test_a_write_that_fails_part_way_keeps_the_old_file(tmp_path):
    target = tmp_path / "_files.json"
    code = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        from fraud_app.etl.fs import HadoopFs
        from fraud_app.spark.session import get_spark
        fs = HadoopFs(get_spark("local[1]", conf={{"spark.ui.enabled": "false"}}))
        fs.write_text({str(target)!r}, '{{"old": 1}}')
        try:
            fs.write_text({str(target)!r}, "x" * 200000)
        except Exception as exc:
            print("failed:", "File too large" in str(exc))
        print("read:", fs.read_text({str(target)!r}))
    """)
    # no .pyc: one written under the file-size limit is cut short (a short write that
    # CPython renames into place) and breaks every later import of that module
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.stdout.splitlines() == ["failed: True", 'read: {"old": 1}'], done.stderr[-3000:]
    assert target.read_text() == '{"old": 1}'  # was 65,536 bytes of the new text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["._files.json.crc", "_files.json"]


def test_a_file_is_replaced_whole_with_its_checksum(spark, tmp_path):
    fs = HadoopFs(spark)
    target = str(tmp_path / "_report.json")
    fs.write_text(target, "first")
    fs.write_text(target, "second, longer")
    assert fs.read_text(target) == "second, longer"  # Hadoop's .crc matches the new text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["._report.json.crc", "_report.json"]


def _hdfs_like(tmp_path: Path) -> Path:
    """tests/fraud_app/etl/java/HdfsLikeFileSystem.java compiled against Spark's Hadoop."""
    javac = shutil.which("javac")
    if javac is None:
        pytest.skip("javac not found: the HDFS-like file system is compiled for this test")
    import pyspark

    api = next((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    out = tmp_path / "classes"
    subprocess.run(
        [javac, "-cp", str(api), "-d", str(out), str(ROOT / "tests/fraud_app/etl/java/HdfsLikeFileSystem.java")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return out


def test_a_record_on_a_file_system_that_refuses_rename_over_keeps_the_old_one(tmp_path):
    """HDFS (and object stores) refuse a rename onto an existing file: write_text deleted
    the old record first, then renamed the new one in; when that rename failed (a NameNode
    fail-over, a lost connection), its cleanup deleted the new one too: no record at all.
    A real Hadoop FileSystem with HDFS's rename (a local one, `hdfslike:`), in a child
    process whose JVM loads it."""
    classes = _hdfs_like(tmp_path)
    target = tmp_path / "table" / "_files.json"
    uri = f"hdfslike://{target}"
    code = textwrap.dedent(f"""
        from fraud_app.etl.fs import HadoopFs
        from fraud_app.spark.session import get_spark
        spark = get_spark("local[1]", conf={{
            "spark.ui.enabled": "false", "spark.driver.extraClassPath": {str(classes)!r},
            "spark.hadoop.fs.hdfslike.impl": "HdfsLikeFileSystem",
            "spark.hadoop.fs.hdfslike.impl.disable.cache": "true",
            "spark.hadoop.hdfslike.fail_rename_to": "_files.json"}})
        fs = HadoopFs(spark)
        fs.write_text({uri!r}, '{{"old": 1}}')
        try:
            fs.write_text({uri!r}, '{{"new": 2}}')
        except Exception as exc:
            print("failed:", "injected" in str(exc))
        print("read:", fs.read_text({uri!r}))
        fs.write_text({uri!r}, '{{"new": 3}}')  # a rename that works: replaced
        print("read:", fs.read_text({uri!r}))
    """)
    # no .pyc: one written under the file-size limit is cut short (a short write that
    # CPython renames into place) and breaks every later import of that module
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.stdout.splitlines() == ["failed: True", 'read: {"old": 1}', 'read: {"new": 3}'], (
        done.stdout + done.stderr[-3000:]
    )  # was: failed, then FileNotFoundError (the old record deleted, the new one too)
    assert sorted(p.name for p in target.parent.iterdir()) == ["_files.json"]
