"""The run locks on URIs: a root whose scheme is not file (hdfs:/x with one slash as much as
hdfs://nn/x, and what Path() makes of hdfs://nn/x: hdfs:/nn/x) is not a local directory.
RootLock created a local folder named `hdfs:` and locked that; the per-run lock of
`train --run` did the same under <paths.models>. Real files, no Spark."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, EnvironmentSetupError
from fraud_app.etl.lock import RootLock
from pipelines.training import run_names


@pytest.mark.parametrize("root", ["hdfs:/fraud/work", "hdfs:///fraud/work", "s3a://b/work"])
def test_a_remote_root_is_refused_and_nothing_is_written_locally(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with (
        pytest.raises(EnvironmentSetupError, match=rf"paths\.root {root}: the run lock needs a "),
        RootLock(root, "etl"),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("root", ["hdfs://nn:8020/fraud/work", "hdfs:/fraud/work"])
def test_the_per_run_lock_of_a_remote_root_is_in_local_root(root, tmp_path, monkeypatch):
    # session 44: a remote root needs paths.local_root (the driver's files, its locks);
    # without it the config is refused (fraud_app.config_paths), nothing written
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"paths\.local_root must name a local directory"):
        load_config(None, {"paths.root": root})
    assert list(tmp_path.iterdir()) == []
    config = load_config(None, {"paths.root": root, "paths.local_root": str(tmp_path / "l")})
    with run_names.claim_run(config, "r1"):
        assert (tmp_path / "l" / "models" / ".r1.lock").is_file()


@pytest.mark.parametrize("form", ["file:{}", "file://{}", "file://localhost{}", "{}"])
def test_a_local_root_in_any_form_is_locked_in_that_directory(form, tmp_path):
    with RootLock(form.format(tmp_path), "etl") as lock:
        assert lock.path == tmp_path / ".fraud-app.lock" and lock.path.is_file()
    assert not lock.path.exists()


@pytest.mark.parametrize("remote", ["hdfs:/fraud/work", "s3a://b/work"])
def test_the_root_check_leaves_a_remote_root_to_spark(remote, tmp_path, monkeypatch):
    from pipelines.cli_preflight import check_root

    monkeypatch.chdir(tmp_path)
    check_root(load_config(None, {"paths.root": remote, "paths.local_root": "local"}))
    assert [p.name for p in tmp_path.iterdir()] == ["local"]  # it created ./hdfs:/fraud/work


def test_the_root_check_writes_into_a_file_uri_root(tmp_path, monkeypatch):
    from pipelines.cli_preflight import check_root

    monkeypatch.chdir(tmp_path)
    check_root(load_config(None, {"paths.root": f"file:{tmp_path}/work"}))
    assert [p.name for p in tmp_path.iterdir()] == ["work"]  # not ./file:/...


@pytest.mark.parametrize("setting", ["paths.root", "paths.models", "scoring.output"])
def test_a_lock_directory_that_cannot_be_created_names_its_setting(setting, tmp_path):
    # the lock's directory came from paths.root (etl), paths.models (train --run) or the
    # scores folder (score); the error said "Set paths.root" for all three
    (tmp_path / "a-file").write_text("x")
    root = tmp_path / "a-file" / "out"
    with (
        pytest.raises(
            EnvironmentSetupError,
            match=rf"^cannot create the output root {root}: .+\. Set {setting} to a writable "
            r"directory\.$",
        ),
        RootLock(str(root), "score", setting=setting),
    ):
        pass
