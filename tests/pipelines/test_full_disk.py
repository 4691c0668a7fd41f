"""A disk that fills up while a Spark step writes (session 31, helper probe31b), through the
real CLI in-process (the shared local session): one `error:` line naming what filled up
and what to do, exit code 2, the published table intact, and the same command succeeds
once space is freed.

`test_a_java_write_error_is_one_line` runs as a normal user (a real Java IOException from
/dev/full through Py4J). The tmpfs test needs root (`mount -t tmpfs`) and skips otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.cli_failures import failed

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label\n"


def _rows(n: int, start: int = 0) -> str:
    return "".join(
        f"t{i},card{i % 37},m{i % 11},2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,{i % 500}.25,"
        f"{int(i % 97 == 0)}\n"
        for i in range(start, start + n)
    )


def test_a_java_write_error_is_one_line(spark, capsys):
    """Was: a Py4JJavaError with Java's trace re-raised by the CLI (exit 1)."""
    from py4j.protocol import Py4JJavaError

    stream = spark._jvm.java.io.FileOutputStream("/dev/full")
    with pytest.raises(Py4JJavaError) as info:
        stream.write(bytearray(b"x" * 65536))
    assert failed("features", info.value) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on device. Free space on the disk it writes to")
    assert "`fraud-app features` again" in err and len(err.splitlines()) == 1


@pytest.fixture
def tiny_disk():
    """A 3 MiB tmpfs at /mnt/p31b_disk-* (root only: skipped otherwise). Not under
    tmp_path: pytest renames old temporary folders, and a mount point moved away can no
    longer be unmounted by its first name."""
    if os.geteuid() != 0 or shutil.which("mount") is None or not os.access("/mnt", os.W_OK):
        pytest.skip("mounting a tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="p31b_disk-", dir="/mnt"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"mount not permitted: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        # lazily: Spark's JVM (the shared session) may still hold a file of it open
        if subprocess.run(["umount", "-l", str(where)], check=False).returncode == 0:
            where.rmdir()


def _fill(disk: Path, leave_kib: int) -> Path:
    free = shutil.disk_usage(disk).free
    ballast = disk / "ballast"
    with ballast.open("wb") as f:
        f.write(b"\0" * max(free - leave_kib * 1024, 0))
    return ballast


def test_etl_onto_a_full_disk(spark, tmp_path, tiny_disk, capsys):
    """Was: Spark's TASK_WRITE_FAILED trace and Python's traceback, exit 1."""
    canonical = tiny_disk / "canonical"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"paths: {{root: {tmp_path / 'work'}, canonical: {canonical}}}\n"
        "tracking: {enabled: false}\nspark: {conf: {spark.sql.shuffle.partitions: '2'}}\n"
    )
    raw = tmp_path / "work" / "raw"
    raw.mkdir(parents=True)
    (raw / "a.csv").write_text(HEADER + _rows(600))
    assert main(["-c", str(config), "etl"]) == 0
    published = sorted(p.relative_to(canonical) for p in canonical.rglob("*"))
    before = spark.read.parquet(str(canonical)).count()
    capsys.readouterr()

    (raw / "b.csv").write_text(HEADER + _rows(4000, start=600))  # a bigger delivery
    ballast = _fill(tiny_disk, leave_kib=40)
    assert main(["-c", str(config), "etl"]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert errors[0].startswith(f"error: no space left on device writing {canonical}.tmp-")
    assert "(paths.canonical); the file system at" in errors[0]
    assert "or set paths.canonical to a larger disk, then run `fraud-app etl` again" in errors[0]
    # nothing lost, nothing half-written left beside it
    assert sorted(p.relative_to(canonical) for p in canonical.rglob("*")) == published
    assert spark.read.parquet(str(canonical)).count() == before
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["ballast", "canonical"]

    ballast.unlink()  # what the line says: free space, run it again
    assert main(["-c", str(config), "etl"]) == 0
    assert spark.read.parquet(str(canonical)).count() == 4600
