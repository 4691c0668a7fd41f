"""Spark ML save / load conventions with errors that name the path: a plain save refuses a
path that exists (overwrite() replaces it), a load of a missing or non-model path says what
it expected. Both raised Spark's AnalysisException about `<path>/metadata` before."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from fraud_app.errors import ModelLoadError, OutputPathError
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassificationModel, DlcoreClassifier

pytestmark = pytest.mark.spark


def test_model_save_refuses_an_existing_path_and_overwrite_replaces_it(fitted, tmp_path):
    path = str(tmp_path / "m")
    fitted.write().save(path)
    before = sorted(p.name for p in (tmp_path / "m").rglob("*"))
    with pytest.raises(OutputPathError, match=rf"{path} already exists; write\(\)\.overwrite\(\)"
                       rf"\.save\('{path}'\) replaces it, or save to a new path"):  # fmt: skip
        fitted.save(path)
    assert sorted(p.name for p in (tmp_path / "m").rglob("*")) == before  # nothing touched
    fitted.write().overwrite().save(path)
    np.testing.assert_array_equal(DlcoreClassificationModel.load(path).weights, fitted.weights)


def test_model_load_names_a_missing_or_foreign_path(fitted, tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match=rf"cannot load {missing}: it does not exist; "
                       "expected a DlcoreClassificationModel saved with write"):  # fmt: skip
        DlcoreClassificationModel.load(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"empty: it holds no metadata/ \(not a saved Spark "
                       "ML stage\\); expected a DlcoreClassificationModel"):  # fmt: skip
        DlcoreClassificationModel.load(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="dlcore models save weights with the local file"):
        fitted.save("hdfs://namenode:8020/models/m")  # refused before anything is written


def test_estimator_save_and_load_follow_the_same_rules(tmp_path):
    path = str(tmp_path / "est")
    DlcoreClassifier(hiddenLayers=[4]).save(path)
    with pytest.raises(OutputPathError, match="already exists"):
        DlcoreClassifier(hiddenLayers=[8]).save(path)
    assert DlcoreClassifier.load(path).getHiddenLayers() == [4]
    DlcoreClassifier(hiddenLayers=[8]).write().overwrite().save(path)
    assert DlcoreClassifier.load(path).getHiddenLayers() == [8]
    with pytest.raises(ModelLoadError, match="it does not exist; expected a DlcoreClassifier"):
        DlcoreClassifier.load(str(tmp_path / "nope"))
    # it returned a DlcoreClassifier from BalancedBaggingClassifier.load, without a word
    with pytest.raises(ModelLoadError, match=r"holds 'fraud_app\.ml\.classifier\.DlcoreClassifier'"
                       r"; expected 'fraud_app\.ml\.bagging\.BalancedBaggingClassifier'"):  # fmt: skip
        BalancedBaggingClassifier.load(path)


def test_a_pipeline_overwrites_and_loads_with_the_checked_stages(fitted, vector_df, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel

    path = str(tmp_path / "pm")
    Pipeline(stages=[DlcoreClassifier(hiddenLayers=[4])]).save(str(tmp_path / "pipe"))
    assert Pipeline.load(str(tmp_path / "pipe")).getStages()[0].getHiddenLayers() == [4]
    model = PipelineModel(stages=[fitted])
    model.save(path)
    model.write().overwrite().save(path)  # the stage is saved into the emptied directory
    out = PipelineModel.load(path).transform(vector_df).select("probability").collect()
    assert len(out) == 300


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"class": "fraud_app.ml.classifier.DlcoreClassificationMo', "JSONDecodeError"),
        ("[1, 2]", "TypeError"),
        ('{"uid": "x"}', "KeyError"),
        ("", "TypeError"),  # an empty metadata/ file
    ],
)
def test_a_damaged_metadata_file_is_named(fitted, tmp_path, text, cause):
    # Spark's own reader ended in a JSONDecodeError / TypeError / KeyError naming no path
    path = tmp_path / "m"
    fitted.write().save(str(path))
    (part,) = [p for p in (path / "metadata").iterdir() if p.name.startswith("part-")]
    part.write_text(text)
    for crc in (path / "metadata").glob(".*.crc"):
        crc.unlink()  # Hadoop's checksum of the old bytes would refuse the edit first
    with pytest.raises(
        ModelLoadError,
        match=rf"cannot load {path}: its metadata/ is not the JSON object a saved stage writes "
        rf"\({cause}: .*\); the directory is damaged or was edited\. Save the "
        "DlcoreClassificationModel again",
    ):
        DlcoreClassificationModel.load(str(path))


def _edit_metadata(path, edit) -> None:
    import json

    (part,) = [p for p in (path / "metadata").iterdir() if p.name.startswith("part-")]
    metadata = json.loads(part.read_text())
    edit(metadata)
    part.write_text(json.dumps(metadata))
    for crc in (path / "metadata").glob(".*.crc"):
        crc.unlink()


_EDITS = {  # Spark's reader raised KeyError / AttributeError / TypeError naming no path
    "no uid": (lambda m: m.pop("uid"), r"is not .* \(KeyError: .*'uid' must be a JSON string"),
    "no paramMap": (lambda m: m.pop("paramMap"), r"is not .*'paramMap' must be a JSON object"),
    "paramMap a list": (lambda m: m.update(paramMap=[1]), r"is not .*'paramMap' must be a JSON"),
    "no sparkVersion": (lambda m: m.pop("sparkVersion"), r"is not .*'sparkVersion' must be a"),
    "unknown param": (
        lambda m: m["paramMap"].update(fooBar=1),
        r"sets param 'fooBar', which a DlcoreClassificationModel does not have",
    ),
    "value of another type": (
        lambda m: m["paramMap"].update(hiddenLayers="abc"),
        r"sets param 'hiddenLayers' to 'abc', which a DlcoreClassificationModel refuses \(",
    ),
    "default of another type": (
        lambda m: m["defaultParamMap"].update(threshold="x"),
        r"sets param 'threshold' to 'x', which a DlcoreClassificationModel refuses",
    ),
    # loaded, then transform failed: ConfigError naming no path / "'<=' not supported
    # between instances of 'int' and 'NoneType'"
    "threshold outside [0, 1]": (
        lambda m: m["paramMap"].update(threshold=1.5),
        r"sets param 'threshold' to 1\.5, which a DlcoreClassificationModel refuses \(.*"
        r"threshold must be in \[0, 1\]",
    ),
    "default None": (
        lambda m: m["defaultParamMap"].update(threshold=None),
        r"sets param 'threshold' to None, which a DlcoreClassificationModel refuses \(.*"
        r"cannot be None",
    ),
    "member count": (
        lambda m: m.update(members=3),
        r"records 3 network\(s\), its data/ensemble holds 1",
    ),
}


@pytest.mark.parametrize("case", list(_EDITS))
def test_an_edited_metadata_file_is_named(fitted, tmp_path, case):
    edit, message = _EDITS[case]
    path = tmp_path / "m"
    fitted.write().save(str(path))
    _edit_metadata(path, edit)
    with pytest.raises(ModelLoadError, match=rf"cannot load {path}: its metadata/ " + message):
        DlcoreClassificationModel.load(str(path))


def test_an_edited_estimator_file_is_named_and_saved_params_load_back(tmp_path):
    path = tmp_path / "est"
    DlcoreClassifier(hiddenLayers=[4], threshold=0.3).save(str(path))
    loaded = DlcoreClassifier.load(str(path))
    assert (loaded.getHiddenLayers(), loaded.getThreshold()) == ([4], 0.3)
    assert not loaded.isSet("dropout") and loaded.hasDefault("dropout")  # defaults stay defaults
    _edit_metadata(path, lambda m: m["paramMap"].update(fooBar=1))
    with pytest.raises(ModelLoadError, match=rf"cannot load {path}: its metadata/ sets param "
                       "'fooBar', which a DlcoreClassifier does not have"):  # fmt: skip
        DlcoreClassifier.load(str(path))


def test_a_relative_path_keeps_the_model_in_one_directory_after_a_chdir(
    spark, fitted, tmp_path, monkeypatch
):
    """Spark resolves a relative path against the JVM's working directory (the one the
    session started in); the weights went under Python's current one: after an os.chdir
    (a notebook's %cd), metadata/ and data/ of one model landed in two directories."""
    from pathlib import Path

    jvm_cwd = Path(spark.sparkContext._jvm.java.lang.System.getProperty("user.dir"))
    relative = os.path.relpath(tmp_path / "m", jvm_cwd)
    # deeper than the JVM's directory, so the old resolution stayed inside tmp_path too
    elsewhere = tmp_path.joinpath(*["d"] * (len(jvm_cwd.parts) + 1))
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    fitted.write().save(relative)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["data", "metadata"]
    loaded = DlcoreClassificationModel.load(relative)
    np.testing.assert_array_equal(loaded.weights, fitted.weights)


def test_a_path_under_a_file_is_named(fitted, tmp_path):
    (tmp_path / "afile").write_text("x")
    path = str(tmp_path / "afile" / "m")
    # was Spark's Py4JJavaError (ParentNotDirectoryException), 70 lines of JVM trace
    with pytest.raises(
        OutputPathError, match=rf"cannot save to {path}: {tmp_path / 'afile'} is a file"
    ):
        fitted.write().save(path)
    with pytest.raises(OutputPathError, match="is a file, not a directory"):
        DlcoreClassifier().write().save(path)


def test_params_set_to_none_load_back(fitted, vector_df, tmp_path):
    # weightCol=None (Spark's "no weights") and predictionCol=None (no such column) were
    # saved as null and refused on load: "sets param 'weightCol' to None, which a
    # DlcoreClassifier refuses (... Could not convert <class 'NoneType'> to string)"
    DlcoreClassifier(weightCol=None, hiddenLayers=[4]).save(str(tmp_path / "est"))
    loaded = DlcoreClassifier.load(str(tmp_path / "est"))
    assert loaded.isSet("weightCol") and loaded.getWeightCol() is None
    assert loaded.getHiddenLayers() == [4]
    model = fitted.copy({fitted.weightCol: None, fitted.predictionCol: None})
    model.write().save(str(tmp_path / "m"))
    back = DlcoreClassificationModel.load(str(tmp_path / "m"))
    assert back.getWeightCol() is None and back.getPredictionCol() is None
    out = back.transform(vector_df)
    assert "prediction" not in out.columns and out.select("probability").count() == 300


def test_a_model_without_networks_is_named_and_an_overwrite_keeps_the_old_one(
    fitted, vector_df, tmp_path
):
    # AttributeError "'NoneType' object has no attribute 'members'", raised after
    # overwrite() had removed the model saved there
    from fraud_app.errors import ConfigError
    from fraud_app.ml import BalancedBaggingClassificationModel

    path = str(tmp_path / "m")
    fitted.write().save(path)
    blank = DlcoreClassificationModel()
    with pytest.raises(
        ConfigError,
        match=r"^DlcoreClassificationModel\.write\(\)\.save: this model holds no networks \(it "
        r"was built without an ensemble\); use the model fit\(df\) returns, or "
        r"DlcoreClassificationModel\.load\(path\)$",
    ):
        blank.write().overwrite().save(path)
    assert DlcoreClassificationModel.load(path).numFeatures == 4  # the saved model is there
    calls = [
        lambda: blank.transform(vector_df),
        lambda: blank.numFeatures,
        lambda: blank.predict_numpy(np.zeros((2, 4))),
        lambda: blank.predictProbability(np.zeros(4)),
        lambda: blank.network,
        lambda: BalancedBaggingClassificationModel().members,
    ]
    for call in calls:
        with pytest.raises(ConfigError, match=r"Model\.\w+: this model holds no networks"):
            call()


@pytest.mark.parametrize(
    "call", ["weights", "network", "numFeatures", "predictRaw", "predictProbability", "predict"]
)
def test_each_entry_point_of_a_model_without_networks_names_itself(call):
    # weights said "DlcoreClassificationModel.network: ..." (review46d); predictRaw and
    # predict were not covered by a test
    from fraud_app.errors import ConfigError

    blank = DlcoreClassificationModel()
    with pytest.raises(
        ConfigError, match=rf"^DlcoreClassificationModel\.{call}: this model holds no networks"
    ):
        value = getattr(blank, call)
        if callable(value):
            value(np.zeros(4))


def _nested_pipeline(fitted, path):
    """assembler -> PipelineModel(model): saved by pyspark's writer (a fraud_app stage)."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=list("abcd"), outputCol="features")
    PipelineModel(stages=[assembler, PipelineModel(stages=[fitted])]).save(str(path))
    return path


def test_load_pipeline_model_loads_what_spark_loads(fitted, raw_df, tmp_path):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import VectorAssembler

    from fraud_app.ml import load_pipeline_model

    path = _nested_pipeline(fitted, tmp_path / "pm")
    ours, spark_s = load_pipeline_model(str(path)), PipelineModel.load(str(path))
    assert ours.uid == spark_s.uid
    assert [type(s) for s in ours.stages] == [type(s) for s in spark_s.stages]
    assert ours.stages[1].stages[0].uid == fitted.uid

    def scores(model):
        out = model.transform(raw_df).orderBy("id").select("probability", "prediction")
        return [(tuple(r.probability), r.prediction) for r in out.collect()]

    assert scores(ours) == scores(spark_s)
    java = tmp_path / "java"  # every stage a Java one: the JVM's writer and class name
    PipelineModel(stages=[VectorAssembler(inputCols=list("ab"), outputCol="v")]).save(str(java))
    loaded = load_pipeline_model(str(java))
    assert (
        loaded.transform(raw_df).columns == PipelineModel.load(str(java)).transform(raw_df).columns
    )


def _evil_module(tmp_path, monkeypatch) -> tuple[str, object]:
    import uuid

    name = f"evil_stage_{uuid.uuid4().hex}"
    folder = tmp_path / "mods"
    folder.mkdir()
    marker = tmp_path / "imported"
    (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(folder))
    return f"{name}.Evil", marker


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("EVIL", "loads Transformers of pyspark.ml or fraud_app.ml only"),
        ("os.system", "loads Transformers of pyspark.ml or fraud_app.ml only"),
        ("pyspark.ml.util.os", "is not a saved-able Transformer class there"),
        ("fraud_app.ml.classifier.DlcoreClassifier", "is not a saved-able Transformer class"),
        ("pyspark.ml.nowhere.Thing", "importing 'pyspark.ml.nowhere'"),
        ("pyspark.ml.feature.VectorAssembler;x", "loads Transformers of pyspark.ml"),
        ("pyspark.ml.tuning.CrossValidatorModel", "is read by CrossValidatorModelReader, which"),
    ],
)
def test_a_stage_naming_another_class_is_refused_before_anything_is_imported(
    fitted, tmp_path, monkeypatch, name, why
):
    """Spark's PipelineModel.load imports whatever module a stage's metadata/ names (shown
    with the evil module); load_pipeline_model refuses the nested stage, names it, and
    imports nothing."""
    from pyspark.ml import PipelineModel

    from fraud_app.ml import load_pipeline_model

    evil, marker = _evil_module(tmp_path, monkeypatch)
    name = evil if name == "EVIL" else name
    path = _nested_pipeline(fitted, tmp_path / "pm")
    (inner,) = [p for p in (path / "stages").iterdir() if p.name.startswith("1_")]
    (stage,) = list((inner / "stages").iterdir())
    _edit_metadata(stage, lambda m: m.update({"class": name}))
    with pytest.raises(ModelLoadError, match=rf"cannot load {stage}: its .*{re.escape(why)}"):
        load_pipeline_model(str(path))
    assert not marker.exists()
    if name == evil:  # what the guard is for
        with pytest.raises(Exception):  # noqa: B017 - the module ran; its class is absent
            PipelineModel.load(str(path))
        assert marker.read_text() == "ran"


def test_a_stage_uid_with_a_path_separator_is_refused(fitted, tmp_path):
    from fraud_app.ml import load_pipeline_model

    path = _nested_pipeline(fitted, tmp_path / "pm")
    _edit_metadata(path, lambda m: m["paramMap"].update(stageUids=["../../elsewhere", "x"]))
    with pytest.raises(ModelLoadError, match=r"stage 0's uid '\.\./\.\./elsewhere' would put"):
        load_pipeline_model(str(path))
    with pytest.raises(ModelLoadError, match=r"holds 'fraud_app\.ml\.classifier\.Dlcore.*; "
                       r"expected a PipelineModel"):  # fmt: skip
        load_pipeline_model(str(fitted.write().save(str(tmp_path / "one")) or tmp_path / "one"))
