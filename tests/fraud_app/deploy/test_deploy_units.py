"""Deployment pieces that need no cluster: archive settings, `init`, shipped resources."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from fraud_app.config import load_config
from fraud_app.deploy import init_project
from fraud_app.errors import ConfigError
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.resources import example_config, shipped_spec_dir
from fraud_app.spark.session import ARCHIVE_PYTHON, archive_settings


def test_archive_settings_ship_the_archive_and_point_executors_at_its_python(tmp_path):
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"x")
    conf, env = archive_settings("spark://h:7077", str(archive))
    assert conf == {"spark.archives": f"{archive.as_uri()}#environment"}
    assert (
        env == {"PYSPARK_PYTHON": ARCHIVE_PYTHON} == {"PYSPARK_PYTHON": "./environment/bin/python"}
    )


def test_archive_settings_keep_existing_archives_and_accept_remote_uris():
    conf, _ = archive_settings(
        "yarn", "hdfs:///envs/fraud.tar.gz", {"spark.archives": "hdfs:///other.zip#o"}
    )
    assert conf["spark.archives"] == "hdfs:///other.zip#o,hdfs:///envs/fraud.tar.gz#environment"


def test_archive_uris_of_one_slash_are_remote_and_file_uris_local(tmp_path):
    # hdfs:/x (the default name node) was a local path: "does not exist"
    conf, _ = archive_settings("yarn", "hdfs:/envs/fraud.tar.gz")
    assert conf["spark.archives"] == "hdfs:/envs/fraud.tar.gz#environment"
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"x")
    conf, _ = archive_settings("yarn", f"file://{archive}")
    assert conf["spark.archives"] == f"{archive.as_uri()}#environment"


def test_archive_settings_do_nothing_on_local_masters(tmp_path):
    assert archive_settings("local[2]", str(tmp_path / "missing.tar.gz")) == ({}, {})


def test_a_missing_local_archive_is_a_clear_error(tmp_path):
    with pytest.raises(
        ConfigError, match=r"spark.env_archive: .*missing.tar.gz does not exist.*pack-env"
    ):
        archive_settings("spark://h:7077", str(tmp_path / "missing.tar.gz"))


def test_env_archive_is_a_config_key():
    config = load_config(None, {"spark.env_archive": "/x/env.tar.gz"})
    assert config.spark.env_archive == "/x/env.tar.gz"


def test_shipped_specs_and_example_config_are_found_without_a_spec_dir():
    assert sorted(p.name for p in shipped_spec_dir().glob("*.yaml"))
    assert yaml.safe_load(example_config().read_text())["paths"]["root"]
    features = feature_set_from_config(load_config(None).features)
    assert len(features.features) > 0


def test_init_writes_a_config_that_loads_and_points_at_the_copied_specs(tmp_path):
    written = init_project(tmp_path / "proj")
    config = load_config(written["config"])
    assert config.paths.root == str(tmp_path / "proj" / "work")
    assert config.features.spec_dir == str(tmp_path / "proj" / "feature_specs")
    copied = sorted(p.name for p in written["feature_specs"].glob("*.yaml"))
    assert copied == sorted(p.name for p in shipped_spec_dir().glob("*.yaml"))
    shipped = feature_set_from_config(load_config(None).features)
    assert feature_set_from_config(config.features).names == shipped.names
    # the header's commands name this file (they named configs/demo.yaml, which a user of
    # the starter config does not have)
    text = written["config"].read_text()
    assert "configs/demo.yaml" not in text and "demo configuration" not in text
    # nor a path of the demo's (scoring.model's comment named work/demo/models/<run>, while
    # this project's models are under DIR/work/models)
    assert "work/demo" not in text
    assert f"# Run:  fraud-app -c {tmp_path / 'proj' / 'config.yaml'} generate" in text


@pytest.mark.parametrize("name", ["we ird: proj", "a #1", "[x]", 'quote\'d "dir"', "ünï"])
def test_init_into_a_directory_of_any_name_writes_a_config_that_loads(tmp_path, name):
    # ': ' was a yaml ScannerError traceback (the specs already copied, so a retry said
    # 'already exists'); ' #' cut the path, and the check called the layout unexpected
    written = init_project(tmp_path / name / "proj")
    config = load_config(written["config"])
    assert config.paths.root == str(tmp_path / name / "proj" / "work")
    assert config.features.spec_dir == str(tmp_path / name / "proj" / "feature_specs")


def test_init_never_overwrites_without_force(tmp_path):
    init_project(tmp_path)
    (tmp_path / "config.yaml").write_text("mine: 1\n")
    with pytest.raises(ConfigError, match="already exist.*--force"):
        init_project(tmp_path)
    assert (tmp_path / "config.yaml").read_text() == "mine: 1\n"
    init_project(tmp_path, force=True)
    assert "mine" not in (tmp_path / "config.yaml").read_text()


def test_pack_env_refuses_a_directory_or_a_file_as_parent_before_packing(tmp_path):
    """`pack-env DIR --force` packed ~800 MB into a temp file left inside DIR and reported
    success ('packed DIR (0 MB)'); a file as parent was a FileExistsError traceback."""
    pytest.importorskip("venv_pack")
    from fraud_app.deploy.packenv import pack_environment

    tiny = tmp_path / "venv"  # a small real virtualenv: without the check it would be packed
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tiny)], check=True)
    target = tmp_path / "env.tar.gz"
    target.mkdir()
    with pytest.raises(ConfigError, match=r"env\.tar\.gz is a directory; give the archive file"):
        pack_environment(target, prefix=tiny, force=True)
    assert not list(target.iterdir())
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match=r"a-file is a file, not a directory to write into"):
        pack_environment(tmp_path / "a-file" / "env.tar.gz", prefix=tiny)


def test_pack_env_into_a_directory_it_cannot_write_fails_at_once_and_leaves_nothing(
    tmp_path, monkeypatch
):
    """`pack-env /sys/env.tar.gz` (a directory this user cannot write) packed the whole
    environment first (95 s here), failed at venv-pack's final move and left the archive,
    734 MB, as a temporary file in $TMPDIR (session 23 probes). /sys refuses every
    write, also root's. The temporary file now goes beside the output."""
    pytest.importorskip("venv_pack")
    import tempfile

    from fraud_app.deploy.packenv import pack_environment

    tiny = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tiny)], check=True)
    scratch = tmp_path / "tmpdir"  # this test's $TMPDIR
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ConfigError, match=r"pack-env: cannot write the archive into /sys \("):
        pack_environment("/sys/env.tar.gz", prefix=tiny)
    assert list(scratch.iterdir()) == []
    out = pack_environment(tmp_path / "sp ace" / "env.tar.gz", prefix=tiny)  # a space: fine
    assert out.is_file() and list(scratch.iterdir()) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["env.tar.gz"]
