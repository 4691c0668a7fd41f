"""Who may take a killed `etl --mode append` change over (fraud_app.etl.commit_source):
its retry however the input is spelled, any run once an operator abandoned it, and, in the
process that took it over, nobody after that run's commit failed.

The killed run's marker is written as the kill leaves it (`_killed.json`: killed on every
host's reading, its input recorded), without a second JVM: these tests are about what the
next runs in this process do with it (the kill itself: test_killed_commit_takeover.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.commit_source import check_takeover, input_identity
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.lock import owner_info
from fraud_app.etl.partition_swap import PartitionSwap
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import _cfg, _row, _write

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def published(first_delivery_published) -> Path:
    """The first delivery (d1/a.csv) published once per test process (conftest.py:
    publish_first); each test takes a copy of its folder (`_killed`)."""
    return first_delivery_published


def _killed(spark, published: Path, tmp_path: Path, spelled: str | None = None):
    """A copy of the published table (and its d1/) as tmp_path, whose append of d2/b.csv
    was killed right after its marker (the input recorded as `spelled`, default the path);
    (table, d2's config, marker)."""
    shutil.copytree(published, tmp_path, dirs_exist_ok=True)  # copy2: mtimes kept
    table = tmp_path / "work" / "canonical"
    delivery = _write(tmp_path / "d2" / "b.csv", [_row("t40", 1), _row("t41", 6)])
    source = input_identity(HadoopFs(spark), "etl", [spelled or str(delivery)])
    marker = table / "_staging" / "etl-0123456789ab" / "_killed.json"
    marker.parent.mkdir(parents=True)
    info = {**owner_info(), "pid": 1, "dates": ["2024-01-01", "2024-01-06"], "input": source}
    marker.write_text(json.dumps(info))
    return table, _cfg(tmp_path, delivery), marker


def _ids(spark, table: Path) -> list[str]:
    return sorted(r.transaction_id for r in spark.read.parquet(str(table)).collect())


def test_a_retry_naming_its_input_another_way_finishes_the_killed_change(
    spark, published, tmp_path
):
    """The killed run had `--input file:/.../d2/b.csv` (or `d2/b.csv` from the folder
    above, `/data//d2`): its retry with the plain absolute path was refused as another
    input ("this run is `fraud-app etl` on ..."), and re-running the command it named was
    refused again the same way from any other working directory."""
    delivery = tmp_path / "d2" / "b.csv"
    table, cfg, _ = _killed(spark, published, tmp_path, f"file:{tmp_path}//d2/./b.csv")
    run_etl(spark, cfg)
    assert "t40" in _ids(spark, table) and not (table / "_staging").exists()
    # the label feeds' order: their rows are ordered by file name, not by argument
    fs, a, b = HadoopFs(spark), str(delivery), str(tmp_path / "d1" / "a.csv")
    ab = input_identity(fs, "labels", [a, b])
    check_takeover(
        str(table), "labels-x", "/m", {"input": ab}, input_identity(fs, "labels", [b, a])
    )
    # a marker of crash38's first release (the paths as given only): compared as given
    first = {k: v for k, v in ab.items() if k != "where"}
    check_takeover(str(table), "labels-x", "/m", {"input": first}, dict(ab))


def test_a_killed_run_whose_input_is_gone_can_be_abandoned(spark, published, tmp_path):
    """Its input gone for good (or exported again with other sizes), the way out was to
    delete the marker: readers then refused the date the killed run left in its `old`
    ("run `fraud-app etl` again (the same input)", which was gone) and the next run
    refused the table's files as not written (`_files.json`), or kept the killed run's
    quarantine file. Renamed `_abandoned.json`, the next run takes the change over."""
    table, cfg, marker = _killed(spark, published, tmp_path)
    Path(cfg.etl.input).write_text(Path(cfg.etl.input).read_text().replace("1.5", "1.50"))
    abandoned = marker.parent / "_abandoned.json"
    with pytest.raises(DataIntegrityError, match=(
        r"its input now holds other files \(1 file\(s\), \d+ bytes\): put back the files it "
        r"held, or, if this is the same delivery exported again \(a correction\), abandon the "
        r"killed run as "
        rf"below .* rename {marker} to {abandoned} and run this command again")):  # fmt: skip
        run_etl(spark, cfg)
    marker.rename(abandoned)
    run_etl(spark, cfg)
    assert "t41" in _ids(spark, table) and not (table / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == 10


def test_a_retry_whose_commit_fails_leaves_the_table_refused_in_its_own_process(
    spark, published, tmp_path, monkeypatch
):
    """The retry read the half-updated table it finishes (OWN_JOBS); its commit failing
    (the disk full as it wrote its marker, a lost disk between two renames) left that in
    place, so a notebook that ran the retry went on reading half a delivery without a
    word, while every other process refused it. A failure after its marker: its marker
    named this live process, which readers let through as a job still swapping."""
    table, cfg, _ = _killed(spark, published, tmp_path)
    for where, fail_after in (("mark_committing", 0), ("swap", 1)):
        real, calls = getattr(PartitionSwap, where), []

        def fails(self, *args, real=real, calls=calls, fail_after=fail_after):
            calls.append(args)
            if len(calls) > fail_after:
                raise OSError("No space left on device (injected)")
            return real(self, *args)

        with monkeypatch.context() as m:
            m.setattr(PartitionSwap, where, fails)
            with pytest.raises(OSError, match="injected"):
                run_etl(spark, cfg)
        with pytest.raises(DataIntegrityError, match=rf"^canonical table {table} is half-upd"):
            read_table(spark, str(table), "canonical table", "etl")
    run_etl(spark, cfg)  # the next retry finishes it
    assert read_table(spark, str(table), "canonical table", "etl").count() == 10
