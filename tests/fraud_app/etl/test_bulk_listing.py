"""HadoopFs lists a folder level in one bulk read (fraud_app.etl.fs_listing). Its listings
read the JVM's FileStatus array element by element, about six Py4J round trips per file
or folder: a one-day `score` of a table of 730 dates made 85,271 round trips, most of them
in these listings (docs/PROBES.md, sessions 39 and 40). Here: the cost of a listing does not
grow with the files, and the bulk read finds what the entry-by-entry walk found, through
Hadoop's file:// FileSystem (the code path of hdfs:// and s3a:// too: `local_listing=False`)
and through os.scandir (a path on this machine's disk, HadoopFs's default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.etl.fs import HadoopFs, partition_dates
from tests.fraud_app.scoring.test_unscored_dates import _round_trips


def _calls(sent: list[str]) -> int:
    """The commands sent but Py4J's "memory" ones: the deletes of JVM proxies that Python
    freed, whenever its garbage collector ran (earlier code's objects, any thread)."""
    return sum(1 for command in sent if not command.startswith("m\n"))


pytestmark = pytest.mark.spark


def _walk(spark, path: str) -> list[tuple[str, int, int]]:
    """(path, bytes, mtime) of the data files under `path`, entry by entry as HadoopFs
    listed them before (the reference)."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(path)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stack, out = [root], []
    while stack:
        for status in fs.listStatus(stack.pop()):
            p = status.getPath()
            name = p.getName()
            if name.startswith(("_", ".")) or name.endswith("._COPYING_"):
                continue
            if status.isDirectory():
                stack.append(p)
            else:
                out.append((str(p.toString()), int(status.getLen()),
                            int(status.getModificationTime())))  # fmt: skip
    return sorted(out)


def _dir_walk(spark, path: str) -> list[tuple[str, bool]]:
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    listed = p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listStatus(p)
    return [(str(s.getPath().getName()), bool(s.isDirectory())) for s in listed]


def _file(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _table(root: Path, days: int) -> Path:
    for d in range(days):
        _file(root / f"event_date=2024-{1 + d // 28:02d}-{1 + d % 28:02d}" / "part-0.parquet",
              "p" * (d + 1))  # fmt: skip
    return root


def _odd_table(root: Path) -> Path:
    """Hidden, underscore, staging and copying entries beside data files, nested folders,
    names with glob characters, spaces, commas, percent signs and non-ASCII letters."""
    _table(root, 3)
    _file(root / "event_date=2024-01-01" / "hour=1" / "part-1.parquet", "nested")
    _file(root / "event_date=2024-01-01" / "_SUCCESS")
    _file(root / "event_date=2024-01-01" / ".part-0.parquet.crc")
    _file(root / "event_date=2024-01-02" / "part-9.parquet._COPYING_")
    # a job's half-written staging: never a table's file
    _file(root / "_staging" / "job-1" / "new" / "event_date=2024-01-04" / "part-0.parquet")
    _file(root / "_temporary" / "0" / "task" / "part-0.parquet")
    _file(root / ".hidden" / "event_date=2024-01-05" / "part-0.parquet")
    _file(root / "event_date=2024-01-03" / "_tmp" / "part-0.parquet")
    _file(root / "event_date=[odd] {a,b} *?%20 é€" / "p q,r.parquet", "odd")
    (root / "event_date=2024-01-09").mkdir()  # an empty partition
    _file(root / "_files.json", "{}")
    return root


@pytest.mark.parametrize("local", [False, True], ids=["hadoop", "scandir"])
@pytest.mark.parametrize("folder", ["t", "w e[i]{r,d}*?%"])
def test_the_bulk_listing_finds_what_the_walk_found(spark, tmp_path, folder, local) -> None:
    root = _odd_table(tmp_path / folder)
    (root / "event_date=2024-01-02" / "link").symlink_to(root / "event_date=2024-01-01")
    (root / "event_date=2024-01-02" / "dangling").symlink_to(root / "nothing")
    fs = HadoopFs(spark, local_listing=local)
    want = _walk(spark, str(root))
    assert fs.list_stats(str(root)) == want
    assert fs.list_stats(f"file://{root}/") == want  # a file:// URI, a final slash
    assert fs.list_sizes(str(root)) == [(p, n) for p, n, _ in want]
    assert fs.list_paths(str(root)) == [p for p, _, _ in want]
    assert fs.newest_data_file(str(root)) == max((t, p) for p, _, t in want)
    assert sorted(fs.list_dir(str(root))) == sorted(_dir_walk(spark, str(root)))
    assert fs.children(str(root)) == sorted(n for n, _ in _dir_walk(spark, str(root)))
    assert partition_dates(fs, str(root)) == {
        "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-09", "[odd] {a,b} *?%20 é€"}  # fmt: skip
    names = [n for n, is_dir in _dir_walk(spark, str(root)) if is_dir]
    sizes = fs.folder_sizes(str(root), [*names, "event_date=2024-02-01"])
    assert sizes == {**{n: [(p, b) for p, b, _ in _walk(spark, f"{root}/{n}")] for n in names},
                     "event_date=2024-02-01": None}  # fmt: skip
    listed = {p for p, _, _ in want}
    assert not any("/_staging/" in p or "/_temporary/" in p or "/." in p for p in listed)
    assert len(want) == 7  # 3 dates, the nested file, the odd one, the linked folder's two


@pytest.mark.parametrize("local", [False, True], ids=["hadoop", "scandir"])
def test_a_file_an_empty_folder_and_a_missing_path(spark, tmp_path, local) -> None:
    fs = HadoopFs(spark, local_listing=local)
    _file(tmp_path / "t" / "part-0.parquet", "abc")
    (tmp_path / "empty").mkdir()
    assert fs.list_sizes(str(tmp_path / "t" / "part-0.parquet")) == [
        (f"file:{tmp_path}/t/part-0.parquet", 3)]  # fmt: skip
    assert fs.list_stats(str(tmp_path / "empty")) == []
    assert fs.list_dir(str(tmp_path / "empty")) == []
    assert fs.list_dir(str(tmp_path / "missing")) == []
    assert fs.children(str(tmp_path / "missing")) == []
    assert fs.newest_data_file(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("local", [False, True], ids=["hadoop", "scandir"])
@pytest.mark.parametrize("call", ["list_sizes", "list_stats", "list_dir"])
def test_a_listing_costs_the_same_round_trips_for_5_and_40_dates(spark, tmp_path, monkeypatch,
                                                                 call, local) -> None:  # fmt: skip
    """Base: ~6 round trips per file and per folder (list_sizes: 80 for 5 dates, 570 for
    40); now one bulk read per folder level, none on a local disk."""
    fs = HadoopFs(spark, local_listing=local)
    small, large = _table(tmp_path / "small", 5), _table(tmp_path / "large", 40)
    getattr(fs, call)(str(small))  # the JVM classes looked up once, before counting
    sent = _round_trips(spark, monkeypatch)
    got = {}
    for root in (small, large):
        sent.clear()
        listed = getattr(fs, call)(str(root))
        got[root.name] = _calls(sent)
        assert len(listed) in (5, 40)
    assert got["large"] == got["small"], got
    assert got["large"] <= 24, got


@pytest.mark.parametrize("local", [False, True], ids=["hadoop", "scandir"])
def test_folder_sizes_of_5_and_40_folders_cost_the_same(spark, tmp_path, monkeypatch, local):
    fs = HadoopFs(spark, local_listing=local)
    got = {}
    for days in (5, 40):
        root = _table(tmp_path / str(days), days)
        names = [n for n, _ in fs.list_dir(str(root))]
        sent = _round_trips(spark, monkeypatch)
        sizes = fs.folder_sizes(str(root), names)
        got[days] = _calls(sent)
        monkeypatch.undo()
        assert all(len(v) == 1 for v in sizes.values()) and len(sizes) == days
    assert got[40] == got[5], got


@pytest.mark.parametrize("local", [False, True], ids=["hadoop", "scandir"])
def test_a_link_loop_an_old_time_and_colon_names_list_as_the_walk(spark, tmp_path, local):
    """Base: os.scandir raised `[Errno 40] Too many levels of symbolic links` on a link to
    itself (Hadoop skips an entry it cannot stat); the bulk read gave a time before 1970
    as 2**64 - 1001; Hadoop's glob (a second folder level, folder_sizes) raised
    URISyntaxException on `2024-01-01T10:00:00.parquet`, which listStatus lists."""
    import os

    root = _table(tmp_path / "t", 2)
    day = root / "event_date=2024-01-01"
    (day / "loop").symlink_to(day / "loop")
    _file(day / "old.parquet", "old")
    os.utime(day / "old.parquet", ns=(-1_000_000_500, -1_000_000_500))
    _file(day / "hour=10" / "2024-01-01T10:00:00.parquet", "colon")
    _file(root / "event_date=2024-01-02" / "2024-01-02T00:00:00.parquet", "c")
    fs = HadoopFs(spark, local_listing=local)
    want = _walk(spark, str(root))
    assert fs.list_stats(str(root)) == want
    assert len(want) == 5 and min(t for _, _, t in want) == -1001
    assert sorted(fs.list_dir(str(day))) == sorted(_dir_walk(spark, str(day)))
    names = ["event_date=2024-01-01", "event_date=2024-01-02", "event_date=2024-02-01"]
    assert fs.folder_sizes(str(root), names) == {
        **{n: [(p, b) for p, b, _ in _walk(spark, f"{root}/{n}")] for n in names[:2]},
        names[2]: None,
    }


def test_a_relative_path_is_the_jvms_after_a_change_of_directory(spark, tmp_path, monkeypatch):
    """Hadoop resolves a relative path against the JVM's working directory; base listed it
    with os.scandir against this process's, so after an os.chdir (a notebook) it listed
    another folder than the one Spark reads."""
    import os

    jvm_cwd = str(spark.sparkContext._jvm.java.lang.System.getProperty("user.dir"))
    root = _table(tmp_path / "t", 2)
    rel = os.path.relpath(root, jvm_cwd)
    ups = rel.split(os.sep).count("..")
    here = tmp_path.joinpath("m", *[f"d{i}" for i in range(ups)])
    _table(Path(os.path.normpath(here / rel)), 5)  # what `rel` names from `here`
    here.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(here)
    fs = HadoopFs(spark)
    want = _walk(spark, rel)
    assert [p for p, _, _ in want] == [f"file:{root}/{p.parent.name}/{p.name}"
                                       for p in sorted(root.glob("*/*.parquet"))]  # fmt: skip
    assert fs.list_stats(rel) == want
    assert sorted(n for n, _ in fs.list_dir(rel)) == sorted(p.name for p in root.iterdir())
    assert fs.folder_sizes(rel, ["event_date=2024-01-01"]) == {
        "event_date=2024-01-01": [(p, b) for p, b, _ in want[:1]]}  # fmt: skip
