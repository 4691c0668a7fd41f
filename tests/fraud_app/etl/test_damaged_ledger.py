"""The label ledger (`<canonical>/_labels_ledger/`) and the quarantine's `labels-*` files
damaged, then the steps that read them (session 41, helper corrupt41). Both hold what
only the label feeds brought: an `etl --mode replace` rebuild re-applies the ledger and
carries the feeds' quarantined rows over. A ledger file deleted, emptied (Spark skips a
0-byte file) or replaced by another Parquet file was read without a word: the rebuild
lost a feed's label (`labels_reapplied` 1 of 2); a cut file stopped it with a Java
traceback. The same damage to a `labels-*` quarantine file lost or changed the rows
carried over. Now the ledger has a record of its files (`_files.json`, as the tables) and
both are checked first: one DataIntegrityError naming the file and the way out, nothing
written. Real Spark, the real ETL and labels runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_labels_ledger import _config

pytestmark = pytest.mark.spark


def _feed(root: Path, name: str, rows: str) -> str:
    (root / name).write_text("transaction_id,label,label_time\n" + rows)
    return str(root / name)


@pytest.fixture(scope="module")
def fed(spark, first_published, tmp_path_factory) -> Path:
    """FIRST published (a copy of conftest.py's `first_published`: raw/, work/), then two
    label feeds: 2 ledger files (a1, a3 filled), 2 `labels-*` quarantine files (zz9, zz8
    unknown)."""
    root = tmp_path_factory.mktemp("fed")
    shutil.copytree(first_published, root, dirs_exist_ok=True)  # copy2: mtimes kept
    run_labels(spark, _config(root), [_feed(root, "f1.csv", "a1,1,2024-01-09 00:30:00\nzz9,1,\n")])
    run_labels(spark, _config(root), [_feed(root, "f2.csv", "a3,1,2024-01-09 00:30:00\nzz8,1,\n")])
    return root


def _parts(folder: Path, prefix: str = "") -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix == ".parquet" and p.name.startswith(prefix)
    )


def _damage(kind: str, victim: Path, other: Path) -> None:
    (victim.parent / f".{victim.name}.crc").unlink(missing_ok=True)
    data = victim.read_bytes()
    if kind == "deleted":
        victim.unlink()
    elif kind == "emptied":
        victim.write_bytes(b"")
    elif kind == "cut":
        victim.write_bytes(data[: len(data) // 2])
    else:  # another Parquet file of the table's root in its place
        victim.write_bytes(other.read_bytes())


def _copy(fed: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "copy"
    shutil.copytree(fed, root)
    work = root / "work"
    table = next(p.parent for p in work.rglob("_labels_ledger"))
    quarantine = next(
        p.parent for p in work.rglob("labels-*.parquet") if "_labels_ledger" not in str(p)
    )
    return root, table, quarantine


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["deleted", "emptied", "cut", "other"])
def test_a_damaged_ledger_file_is_named_before_a_rebuild_loses_its_labels(
    spark, fed, tmp_path, kind
):
    root, table, quarantine = _copy(fed, tmp_path)
    ledger = table / "_labels_ledger"
    victim = _parts(ledger)[0]
    _damage(kind, victim, _parts(quarantine)[0])
    before = _listing(root / "work")
    # on the base: deleted / emptied / other: published, labels_reapplied 1 (a1's label
    # lost); cut: Py4JJavaError
    with pytest.raises(DataIntegrityError, match=(
        rf"label ledger \S+_labels_ledger: its files are not the ones `fraud-app labels` "
        rf"wrote \(its _files.json\): of the 2 data files written \(\d+ bytes\), 1 "
        rf"(missing|changed) \({victim.name}.*Nothing was written. Put the files back from "
        r"a copy of the table; to go on without them, delete the damaged files and "
        r"\S+_labels_ledger/_files.json"
    )):  # fmt: skip
        run_etl(spark, _config(root))
    if kind == "deleted":  # a labels run reads it too
        with pytest.raises(DataIntegrityError, match="label ledger .* 1 missing"):
            run_labels(spark, _config(root), [_feed(root, "f3.csv", "a4,1,\n")])
    assert _listing(root / "work") == before
    assert (ledger / "_files.json").exists()  # the labels commits recorded it
    if kind != "cut":
        return
    shutil.copy2(fed / victim.relative_to(root), victim)
    rebuilt = run_etl(spark, _config(root))  # put back from a copy: the way out
    assert rebuilt.labels_reapplied == 2
    assert (Path(rebuilt.output_path) / "_labels_ledger" / "_files.json").exists()


@pytest.mark.parametrize("kind", ["deleted", "emptied", "other"])
def test_a_damaged_feed_quarantine_file_is_named_before_a_rebuild_drops_its_rows(
    spark, fed, tmp_path, kind
):
    root, table, quarantine = _copy(fed, tmp_path)
    victim = _parts(quarantine, "labels-")[0]
    _damage(kind, victim, _parts(table / "_labels_ledger")[0])
    # on the base: published, label_feed_quarantine_kept 1 of 2 (deleted, emptied), or a
    # ledger file's rows carried as the feed's quarantined rows (other)
    with pytest.raises(DataIntegrityError, match=(
        r"quarantine \S+: the rows `fraud-app labels` runs quarantined \(its labels-\* files\) "
        rf"are not the ones written \(its _files.json\): .*{victim.name}.*Nothing was "
        r"published. Put the files back from a copy; to rebuild without them, delete"
    )):  # fmt: skip
        run_etl(spark, _config(root))


def test_damage_to_the_quarantine_rows_a_rebuild_replaces_does_not_stop_it(spark, fed, tmp_path):
    root, _, quarantine = _copy(fed, tmp_path)
    _parts(quarantine, "part-")[0].unlink()  # etl.input's own quarantined rows: rebuilt
    rebuilt = run_etl(spark, _config(root))
    assert (rebuilt.labels_reapplied, rebuilt.label_feed_quarantine_kept) == (2, 2)
