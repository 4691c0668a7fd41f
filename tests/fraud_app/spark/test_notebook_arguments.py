"""What a notebook user passes by mistake to the public steps: a pandas DataFrame for a
Spark one, a config path for the loaded config, the section's parent, arguments in another
order, a stopped session. Each is one ArgumentKindError naming the call, the argument and
what it takes, before any work (they were AttributeErrors, an AssertionError, or a schema
error that called a pandas DataFrame "the feature table")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.errors import ArgumentKindError, SchemaError
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import score_dataframe
from fraud_app.spark.arguments import kind_of
from fraud_app.validation.validate import validate_canonical, validate_features
from pipelines.training.pipeline import run_training

pytestmark = pytest.mark.spark

PANDAS = pd.DataFrame({"features": [[0.1, 0.2]], "transaction_id": ["t1"]})
AS_SPARK = r"must be a Spark DataFrame; received pandas\.core\.frame\.DataFrame: convert it with spark\.createDataFrame\(df\)"


@pytest.fixture
def config(tmp_path):
    return load_config(None, {"paths.root": str(tmp_path)})


def _nothing_written(tmp_path, config):
    assert not any(p for p in tmp_path.rglob("*") if p.is_file()), list(tmp_path.rglob("*"))


@pytest.mark.parametrize(
    "call, step",
    [
        ("validate_canonical", lambda s, c, df: validate_canonical(s, df, c)),
        ("validate_features", lambda s, c, df: validate_features(s, df, c)),
        ("write_raw", lambda s, c, df: write_raw(df, str(c.paths.resolve("raw")), "csv")),
        ("score_dataframe", lambda s, c, df: score_dataframe(df, None)),
    ],
)
def test_a_pandas_dataframe_is_named_as_such(spark, config, tmp_path, call, step):
    with pytest.raises(ArgumentKindError, match=rf"^{call}: `df` {AS_SPARK}"):
        step(spark, config, PANDAS)
    _nothing_written(tmp_path, config)


@pytest.mark.parametrize(
    "call, step",
    [
        ("run_etl", run_etl),
        ("build_feature_table", build_feature_table),
        ("run_training", run_training),
    ],
)
def test_a_config_path_is_refused_with_load_config(spark, tmp_path, call, step):
    path = str(tmp_path / "demo.yaml")
    with pytest.raises(
        ArgumentKindError,
        match=rf"^{call}: `config` must be an AppConfig .*received str '.*demo\.yaml': load it "
        r"first, config = fraud_app\.config\.load_config\(path\)",
    ):
        step(spark, path)


def test_arguments_in_another_order_are_named(spark, config):
    with pytest.raises(ArgumentKindError, match=r"^run_etl: `spark` must be a SparkSession; "
                       r"received fraud_app\.config\.AppConfig \(the arguments in another "
                       r"order\? the session comes first\)"):  # fmt: skip
        run_etl(config, spark)
    with pytest.raises(ArgumentKindError, match=r"^validate_canonical: `spark` must be a "
                       r"SparkSession; received pyspark\.sql"):  # fmt: skip
        validate_canonical(spark.range(1), spark, config)


def test_the_whole_config_for_its_generate_section_is_named(spark, config):
    with pytest.raises(ArgumentKindError, match=r"^generate_raw: `cfg` must be the config's "
                       r"generate section .*: pass config\.generate$"):  # fmt: skip
        generate_raw(spark, config)


def test_a_path_for_the_ensemble_says_how_to_load_it(spark):
    df = spark.createDataFrame([([0.1],)], "features array<double>")
    with pytest.raises(ArgumentKindError, match=r"`ensemble` must be a FraudEnsemble; received "
                       r"str 'models/r1': load a saved one with FraudEnsemble\.load"):  # fmt: skip
        score_dataframe(df, "models/r1")


def test_a_stopped_session_is_named_before_any_work(tmp_path):
    """In its own process: the tests' session stays up."""
    script = textwrap.dedent(f"""
        from fraud_app.config import load_config
        from fraud_app.data.generator import generate_raw
        from fraud_app.errors import ArgumentKindError
        from fraud_app.etl.pipeline import run_etl
        from fraud_app.spark.session import get_spark
        spark = get_spark("local[1]", "stopped", {{"spark.ui.enabled": "false"}})
        config = load_config(None, {{"paths.root": {str(tmp_path / "root")!r}}})
        df = spark.range(2)
        spark.stop()
        for call in (lambda: run_etl(spark, config), lambda: generate_raw(spark, config.generate)):
            try:
                call()
            except ArgumentKindError as exc:
                print("ERR", exc)
    """)
    # the child's cold JVM starts and stops: its JIT C1 only (spark-submit puts
    # SPARK_SUBMIT_OPTS on the driver JVM's command line, silently; session 50)
    env = {**os.environ, "SPARK_SUBMIT_OPTS": "-XX:TieredStopAtLevel=1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env=env)  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.startswith("ERR")]
    assert lines == [
        f"ERR {call}: the SparkSession passed was stopped; get a running one with "
        "fraud_app.spark.session.get_spark(...) (or the notebook's "
        "SparkSession.builder...getOrCreate()) and pass that"
        for call in ("run_etl", "generate_raw")
    ], out.stderr[-2000:]
    assert not (tmp_path / "root" / "canonical").exists()


def test_settings_for_the_config_path_say_how_to_give_them():
    """`load_config({...})` said `config file {'paths': {}} does not exist`."""
    with pytest.raises(ArgumentKindError, match=r"^load_config: `path` must be the config "
                       r"file's path \(str or Path\) or None; received dict: give settings as "
                       r"dotted overrides"):  # fmt: skip
        load_config({"paths": {"root": "/tmp/x"}})


def test_a_pandas_on_spark_frame_says_how_to_take_its_spark_dataframe(spark):
    frame = spark.range(3).pandas_api()
    with pytest.raises(ArgumentKindError, match=r"^score_dataframe: `df` must be a Spark "
                       r"DataFrame; received pyspark\.pandas\.frame\.DataFrame: take its Spark "
                       r"DataFrame with df\.to_spark\(\)$"):  # fmt: skip
        score_dataframe(frame, None)
    unloaded = FraudEnsemble.__new__(FraudEnsemble)  # the frame is taken before it is used
    with pytest.raises(SchemaError, match="column 'features' is missing"):
        score_dataframe(frame.to_spark(index_col="i"), unloaded)


def test_a_config_loaded_before_a_module_reload_is_taken(tmp_path):
    """A notebook's `importlib.reload(fraud_app.config)` (or `%autoreload`) makes a new
    AppConfig class: the config loaded before, which the steps read as ever, was refused
    as "`config` must be an AppConfig ...; received fraud_app.config.AppConfig"."""
    script = textwrap.dedent(f"""
        import importlib
        import fraud_app.config
        from fraud_app.spark.arguments import require_config
        config = fraud_app.config.load_config(None, {{"paths.root": {str(tmp_path)!r}}})
        importlib.reload(fraud_app.config)
        assert type(config) is not fraud_app.config.AppConfig
        require_config(config, "run_etl")
        print("taken")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.stdout.strip() == "taken", out.stderr[-2000:]


def test_a_long_path_is_shown_whole_and_a_huge_text_cut():
    # a notebook's paths are long (pytest's tmp paths failed the regex above when cut at 80)
    path = "/" + "/".join(["folder"] * 40) + "/demo.yaml"
    assert kind_of(path) == f"str {path!r}"
    assert kind_of("y" * 1000) == f"str {'y' * 397 + '...'!r}"
