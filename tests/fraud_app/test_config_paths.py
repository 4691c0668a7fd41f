"""paths.* as Spark and as Python name them (fraud_app.config_paths): a URI root keeps its
scheme and authority (pathlib made `hdfs://nn:8020/d` `hdfs:/nn:8020/d`, the default name
node's folder `nn:8020`); a remote root needs paths.local_root for what Python opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError
from fraud_app.tracking.client import default_artifact_location, tracking_uri
from fraud_app.tracking.models import _cache_root
from pipelines.training.run_names import report_path, run_lock
from pipelines.unlock.clear import audit_dir

URI_ROOTS = [
    "hdfs://nn:8020/data/fraud",
    "hdfs:///data/fraud",
    "s3a://bucket/k",
    "abfss://c@a.dfs.core.windows.net/p",
    "gs://b",
    "viewfs://cluster/p",
    "file:///x",
    "file:/x",
]


def _config(root: str, **paths) -> AppConfig:
    return AppConfig.model_validate({"paths": {"root": root, "local_root": "/srv/fa", **paths}})


@pytest.mark.parametrize("root", URI_ROOTS)
def test_every_spark_place_under_a_uri_root_keeps_its_scheme_and_authority(root):
    config = _config(root)
    assert config.etl_tables() == (f"{root}/canonical", f"{root}/quarantine")
    assert config.canonical_table() == f"{root}/canonical"
    assert config.feature_table() == f"{root}/features"
    assert config.scores_output() == (f"{root}/scores", "paths.scores")
    assert config.paths.resolve("raw") == f"{root}/raw"
    assert config.paths.resolve("test_scores", "r1") == f"{root}/test-scores/r1"


def test_a_root_with_a_trailing_slash_gets_no_second_one_and_nothing_is_normalised():
    config = _config("hdfs://nn:8020/d/", canonical="a/../b/", features="./f")
    assert config.etl_tables()[0] == "hdfs://nn:8020/d/a/../b/"
    assert config.feature_table() == "hdfs://nn:8020/d/./f"


@pytest.mark.parametrize(
    "value", ["hdfs://other:9000/t", "s3a://b2/t", "abfss://c@a.dfs.core.windows.net/t", "/abs/t"]
)
def test_a_uri_or_absolute_paths_value_is_taken_as_given(value):
    assert _config("hdfs://nn:8020/d", features=value).feature_table() == value
    assert _config("work", features=value).feature_table() == value


def test_local_roots_join_as_before(tmp_path):
    relative = AppConfig.model_validate({"paths": {"root": "work", "raw": "raw/"}})
    assert relative.paths.resolve("raw") == "work/raw"
    assert relative.paths.local("reports") == Path("work/reports")
    absolute = AppConfig.model_validate({"paths": {"root": str(tmp_path)}})
    assert absolute.feature_table() == f"{tmp_path}/features"
    assert absolute.paths.driver_dir() == tmp_path


def test_what_python_opens_goes_under_local_root_with_a_remote_root(tmp_path):
    config = AppConfig.model_validate(
        {"paths": {"root": "hdfs://nn:8020/d", "local_root": str(tmp_path)}}
    )
    assert config.paths.local("reports") == tmp_path / "reports"
    assert report_path(config, "r1") == tmp_path / "reports" / "training-r1.json"
    assert run_lock(config, "r1").path == tmp_path / "models" / ".r1.lock"
    assert config.paths.local("checkpoints") == tmp_path / "checkpoints"
    assert tracking_uri(config) == f"sqlite:///{tmp_path}/mlflow.db"
    assert default_artifact_location(config) == str(tmp_path / "mlartifacts")
    assert _cache_root(config) == tmp_path / "model-cache"
    assert audit_dir(config.paths.driver_root()) == tmp_path / ".fraud-app-unlock"
    assert config.paths.local_or_none("test_scores") is None
    with pytest.raises(ConfigError, match="paths.test_scores 'hdfs://nn:8020/d/test-scores'"):
        config.paths.local("test_scores")


def test_a_file_local_root_is_its_local_path(tmp_path):
    config = _config("s3a://b/k", local_root=f"file://{tmp_path}", models="m")
    assert config.paths.local("models") == tmp_path / "m"


def test_a_remote_root_without_local_root_is_refused_naming_every_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text("paths:\n  root: hdfs://nn:8020/d\n  models: s3a://b/models\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "paths.root 'hdfs://nn:8020/d' is remote, so paths.local_root must name" in message
    assert "mlflow.db" in message and "shared directory" in message
    assert "paths.models 's3a://b/models' is not on this machine" in message
    assert list(tmp_path.iterdir()) == [path]  # no folder `hdfs:` in the working directory


@pytest.mark.parametrize("name", ["reports", "models", "checkpoints"])
def test_a_remote_driver_path_is_refused_even_under_a_local_root(name):
    with pytest.raises(ConfigError, match=rf"paths.{name} 'gs://b/x' is not on this machine"):
        load_config(None, {"paths.root": "work", f"paths.{name}": "gs://b/x"}, check_root=False)


def test_a_remote_local_root_is_refused():
    with pytest.raises(ConfigError, match="paths.local_root 'hdfs:///x' is not on this machine"):
        load_config(None, {"paths.root": "hdfs:///d", "paths.local_root": "hdfs:///x"})


def test_spark_writes_and_reads_a_file_uri_roots_tables_where_python_looks(
    spark, tmp_path, monkeypatch
):
    """Real Spark with paths.root `file:///<dir>` (the authority-free form): the resolved
    URIs are written and read back, and land in <dir>, where Python's local view of the
    same settings (dashboards, prune) finds them; nothing under the working directory."""
    from pipelines.training.outputs import write_test_scores

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "d"
    config = AppConfig.model_validate({"paths": {"root": f"file://{root}"}})
    df = spark.createDataFrame(
        [("t1", "c1", 0.5)], "transaction_id string, card_id string, fraud_score double"
    )
    df.write.parquet(config.feature_table())
    write_test_scores(df, config.paths.resolve("test_scores", "r1"))
    assert spark.read.parquet(config.feature_table()).count() == 1
    assert spark.read.parquet(config.paths.resolve("test_scores", "r1")).count() == 1
    assert list((root / "features").glob("*.parquet"))
    assert list((config.paths.local("test_scores") / "r1").glob("*.parquet"))
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
