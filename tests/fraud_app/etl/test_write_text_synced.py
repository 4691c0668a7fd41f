"""`HadoopFs.write_text` (commit markers, `_files.json`, `_features.json`, the ETL and
labels reports) puts the new file on the disk before it renames it into place, and the
rename after it, as fraud_app.jsonout does for its files (session 41, helper corrupt41).
It synced nothing: after a power cut the rename may survive while the unsynced bytes do
not (ext4 without `auto_da_alloc` for a new name), leaving an empty marker or record under
the final name. A power cut cannot be made here: the test records the fsync calls of a
real write on the local disk (Hadoop's local stream offers no hsync, so Python syncs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fraud_app.etl.fs import HadoopFs

pytestmark = pytest.mark.spark


def test_a_record_is_synced_before_and_after_its_rename(spark, tmp_path, monkeypatch):
    fs = HadoopFs(spark)
    target = tmp_path / "_files.json"
    fs.write_text(str(target), '{"old": 1}')
    synced: list[tuple[str, str]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        synced.append(
            (name, Path(name).read_bytes().decode(errors="replace") if os.path.isfile(name) else "")
        )
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    fs.write_text(str(target), '{"new": 2}')
    files = [(os.path.basename(n), text) for n, text in synced if n != str(tmp_path)]
    assert files and files[0][0].startswith("._files.json.tmp-"), synced  # base: none
    assert files[0][1] == '{"new": 2}'  # the bytes, before the rename
    assert any(n.startswith(".._files.json.tmp-") and n.endswith(".crc") for n, _ in files)
    assert synced[-1][0] == str(tmp_path)  # the folder, after the rename
    assert target.read_text() == '{"new": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["._files.json.crc", "_files.json"]
