"""Local paths Spark cannot use: a ':' in a folder name is read by Hadoop as a URI scheme
(`URISyntaxException: Relative path in absolute URI`), after the JVM started. Pure logic:
the config is checked before any Spark session exists."""

from __future__ import annotations

import pytest

from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.spark.session import check_hadoop_paths


def _config(**sections) -> AppConfig:
    return AppConfig.model_validate(sections)


def test_a_root_without_colons_passes(tmp_path):
    check_hadoop_paths(_config(paths={"root": str(tmp_path / "work")}))


def test_a_colon_above_the_root_is_one_line_naming_the_folder(tmp_path):
    folder = tmp_path / "2024-01-01T00:00"
    with pytest.raises(ConfigError) as err:
        check_hadoop_paths(_config(paths={"root": str(folder / "work")}))
    lines = str(err.value).splitlines()
    assert lines[1:-1] == [f"  paths.root {str(folder / 'work')!r} is under {str(folder)!r}"]


def test_a_relative_root_is_checked_under_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a:b").mkdir()
    monkeypatch.chdir(tmp_path / "a:b")
    with pytest.raises(ConfigError, match=r"paths\.root 'work' is under '.*/a:b'"):
        check_hadoop_paths(_config(paths={"root": "work"}))


def test_step_places_and_paths_of_their_own_are_named(tmp_path):
    config = _config(
        paths={"root": str(tmp_path / "work"), "scores": str(tmp_path / "s:1" / "scores")},
        etl={"input": str(tmp_path / "in:box")},
        features={"output": "file://" + str(tmp_path / "f:x")},
    )
    with pytest.raises(ConfigError) as err:
        check_hadoop_paths(config)
    named = [line.split()[0] for line in str(err.value).splitlines()[1:-1]]
    assert named == ["paths.scores", "etl.input", "features.output"]


@pytest.mark.parametrize("root", ["hdfs://namenode:8020/fraud", "s3a://bucket/a:b/work"])
def test_remote_roots_are_left_to_their_file_system(root):
    check_hadoop_paths(_config(paths={"root": root, "local_root": "/srv/fraud-app"}))


@pytest.mark.parametrize("root", ["hdfs://nn:8020/fraud", "work"])
def test_relative_driver_paths_are_checked_under_local_root_where_they_are_written(tmp_path, root):
    """review44a: relative paths.reports / models / checkpoints live under paths.local_root;
    e8eed6a3 checked them under paths.root: with a remote root not at all, with a local one
    in the wrong folder (naming a place nothing is written to)."""
    local_root = tmp_path / "st"
    paths = {"root": root, "local_root": str(local_root), "reports": "r:1", "models": "m"}
    with pytest.raises(ConfigError) as err:
        check_hadoop_paths(_config(paths=paths))
    assert str(err.value).splitlines()[1:-1] == [
        f"  paths.reports 'r:1' is under {str(local_root / 'r:1')!r}"
    ]
