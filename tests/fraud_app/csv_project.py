"""A project on a small CSV, shared by tests of the tables' life after `etl` and `features`."""

from __future__ import annotations

import shutil
from pathlib import Path

from fraud_app.config import AppConfig, load_config
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table

ROOT = Path(__file__).resolve().parents[2]


def csv_project(spark, tmp_path: Path, csv: str) -> AppConfig:
    """`etl` of `csv` (one file under tmp_path/raw), then `features` with the shipped
    specs, under tmp_path/root; the config."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text(csv)
    config = load_config(None, {"paths.root": str(tmp_path / "root"), "etl.input": str(raw),
                                "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip
    run_etl(spark, config)
    build_feature_table(spark, config)
    return config


class Pristine:
    """Folders kept as they are now and put back IN PLACE by `restore()` (same absolute
    paths; copy2: the files keep their mtimes), so that the tests of one module share one
    build: `_features.json` records its input table's absolute path (`source.path`), so a
    copy under another root would judge its feature table against the first one's input.
    For the tests of one module (one process, one test at a time)."""

    def __init__(self, *folders: Path) -> None:
        self.folders = folders
        for folder in folders:
            shutil.copytree(folder, self._kept(folder))

    @staticmethod
    def _kept(folder: Path) -> Path:
        return folder.with_name(folder.name + ".pristine")

    def restore(self) -> None:
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(self._kept(folder), folder)


class BuiltProject:
    """A csv_project built once (a module-scoped fixture); `fresh()` hands a test the
    project as it was built (Pristine: put back in place), each test's own files going to
    its tmp_path."""

    def __init__(self, spark, base: Path, csv: str) -> None:
        self.config = csv_project(spark, base, csv)
        self.pristine = Pristine(base / "root")

    def fresh(self) -> AppConfig:
        self.pristine.restore()
        return self.config
