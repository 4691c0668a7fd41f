"""Loading a saved PipelineModel without letting its files choose the code that reads it.

Spark's `PipelineModel.load` (pyspark's `DefaultParamsReader.loadParamsInstance`) imports
the module and class that each stage's `metadata/` names and calls that class's `load` on
the stage directory: whoever can edit a saved pipeline's directory chooses which
importable code runs in the driver, before any fraud_app reader sees a byte.
`load_pipeline_model` reads every stage's metadata first, nested PipelineModels included,
and loads the pipeline only when each stage is one of:

- a fraud_app.ml model: its reader checks the saved class and reads JSON and `.npz` only;
- a pyspark.ml class the JVM reads (`JavaMLReader`: Spark's Scala reader checks the saved
  class against its own, so the files choose no code);
- a PipelineModel, whose stages are checked the same way.

Anything else is a ModelLoadError naming the stage directory and the class, raised before
any stage is loaded: a class outside pyspark.ml and fraud_app.ml, a name that is not a
dotted Python name or not a Transformer, a pyspark.ml class whose own Python reader
imports the classes its files name again (`CrossValidatorModel`,
`TrainValidationSplitModel`, `OneVsRestModel`), a stage uid that would put its directory
outside the pipeline's `stages/`. Also refused: a stage whose saved params are code,
`SQLTransformer` (its `statement` is SQL that runs when the pipeline transforms, and
when it checks a schema: `reflect('java.lang.System', 'getenv', ...)` copied an
environment variable into every scored row, and `INSERT OVERWRITE DIRECTORY` writes the
rows anywhere), and an `RFormulaModel` whose own `pipelineModel/` (which the JVM loads
by the class names its files give) holds a stage other than those `RFormula.fit` puts
there. Load those, if you trust the directory, with Spark's own loaders.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.pipeline import PipelineSharedReadWrite
from pyspark.ml.util import JavaMLReader
from pyspark.sql import SparkSession

from fraud_app.errors import ModelLoadError
from fraud_app.ml.persistence import load_metadata
from fraud_app.spark.connect import FILE_SYSTEM, require_classic

ALLOWED_PACKAGES = ("pyspark.ml.", "fraud_app.ml.")
PIPELINE_MODEL_CLASSES = (
    "pyspark.ml.pipeline.PipelineModel",  # pyspark's PipelineModelWriter
    "org.apache.spark.ml.PipelineModel",  # the JVM's, when every stage is a Java one
    "pyspark.ml.PipelineModel",  # the same class by its package's name
)
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
# Stages whose saved params are code the directory chooses: SQLTransformer's statement is
# SQL the JVM runs in transform and transformSchema (Spark SQL's reflect / java_method call
# static Java methods, `text.`/path`` reads any file, INSERT OVERWRITE DIRECTORY writes)
CODE_STAGES = ("pyspark.ml.feature.SQLTransformer",)
RFORMULA_MODEL = "pyspark.ml.feature.RFormulaModel"
# What RFormula.fit (Spark 4.x) puts into the PipelineModel its model keeps in
# `pipelineModel/`; the JVM's reader loads those stages by the class names their files give
RFORMULA_STAGES = frozenset(
    f"org.apache.spark.ml.feature.{name}"
    for name in (
        "StringIndexerModel", "OneHotEncoderModel", "VectorAssembler", "Interaction",
        "VectorSizeHint", "ColumnPruner", "VectorAttributeRewriter",
    )
)  # fmt: skip


@dataclass(frozen=True)
class _Stage:
    path: str
    reader: Any = None  # the checked class's reader; None: a PipelineModel of `stages`
    stages: tuple[_Stage, ...] = ()
    uid: str = ""


def load_pipeline_model(path: str, spark: SparkSession | None = None) -> PipelineModel:
    """The PipelineModel saved at `path` (`model.write().save(path)`), after every stage's
    class was checked (module docstring); the same stages and transform as Spark's
    `PipelineModel.load(path)` where that loads what this allows."""
    spark = spark or SparkSession.active()
    require_classic(spark, f"loading a PipelineModel from {path}", FILE_SYSTEM)
    plan = _check_pipeline(str(path), spark, depth=0)
    return _build(plan)


def _check_pipeline(path: str, spark: SparkSession, depth: int) -> _Stage:
    if depth > 16:
        raise ModelLoadError(
            f"cannot load {path}: PipelineModels nested more than 16 deep; the directory "
            "was edited (a saved pipeline holds the stages it was built with)"
        )
    metadata = load_metadata(path, spark, "PipelineModel")
    if metadata["class"] not in PIPELINE_MODEL_CLASSES:
        raise ModelLoadError(
            f"cannot load {path}: it holds {metadata['class']!r}; expected a PipelineModel "
            f"({PIPELINE_MODEL_CLASSES[0]!r}). Load a single stage with its own class's load"
        )
    uids = metadata["paramMap"].get("stageUids")
    if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
        raise ModelLoadError(
            f"cannot load {path}: its metadata/ paramMap.stageUids is {uids!r}; expected the "
            "list of stage uids a saved PipelineModel writes. The directory was edited"
        )
    stages_dir = f"{path.rstrip('/')}/stages"
    stages = []
    for index, uid in enumerate(uids):
        if not uid or any(c in uid for c in "/\\\0"):
            raise ModelLoadError(
                f"cannot load {path}: stage {index}'s uid {uid!r} would put its directory "
                f"outside {stages_dir}; expected a uid without path separators. The "
                "directory was edited"
            )
        stage_path = PipelineSharedReadWrite.getStagePath(uid, index, len(uids), stages_dir)
        stages.append(_check_stage(stage_path, spark, depth))
    return _Stage(path, None, tuple(stages), metadata["uid"])


def _check_stage(path: str, spark: SparkSession, depth: int) -> _Stage:
    metadata = load_metadata(path, spark, "pipeline stage")
    saved = metadata["class"]
    if saved in PIPELINE_MODEL_CLASSES:
        return _check_pipeline(path, spark, depth + 1)
    # the Python class Spark's loadParamsInstance would import for this name
    name = (
        saved
        if saved.startswith("pyspark.ml.")
        else saved.replace("org.apache.spark.", "pyspark.", 1)
    )
    if name in CODE_STAGES:
        raise ModelLoadError(
            f"cannot load {path}: it is a {name.rsplit('.', 1)[1]}, whose saved statement is "
            "SQL the directory chooses and Spark runs when the pipeline transforms (it can "
            "call Java methods, read files and write the rows elsewhere); "
            "load_pipeline_model loads no stage whose files hold code. Load a directory you "
            "trust with Spark's own loader (PipelineModel.load)"
        )
    cls = _resolve(name, path)
    if name == RFORMULA_MODEL:
        _check_rformula_pipeline(f"{path.rstrip('/')}/pipelineModel", spark)
    reader = cls.read()
    if not cls.__module__.startswith("fraud_app.ml.") and not isinstance(reader, JavaMLReader):
        raise ModelLoadError(
            f"cannot load {path}: its class {name!r} is read by {type(reader).__name__}, "
            "which imports the classes its files name again; load_pipeline_model loads "
            "fraud_app.ml models, PipelineModels and pyspark.ml classes the JVM reads. Load "
            "a directory you trust with Spark's own loader"
        )
    return _Stage(path, reader)


def _check_rformula_pipeline(path: str, spark: SparkSession) -> None:
    """The PipelineModel an RFormulaModel keeps: the JVM loads its stages by the class names
    their files give, so each must be one RFormula.fit writes (RFORMULA_STAGES)."""
    metadata = load_metadata(path, spark, "PipelineModel")
    uids = metadata["paramMap"].get("stageUids")
    if (
        metadata["class"] not in PIPELINE_MODEL_CLASSES
        or not isinstance(uids, list)
        or not all(isinstance(u, str) and u and not any(c in u for c in "/\\\0") for u in uids)
    ):
        raise ModelLoadError(
            f"cannot load {path}: an RFormulaModel's pipelineModel/ holds {metadata['class']!r} "
            f"with stage uids {uids!r}; expected the PipelineModel RFormula.fit saves. The "
            "directory was edited"
        )
    stages_dir = f"{path.rstrip('/')}/stages"
    for index, uid in enumerate(uids):
        stage = PipelineSharedReadWrite.getStagePath(uid, index, len(uids), stages_dir)
        saved = load_metadata(stage, spark, "pipeline stage")["class"]
        if saved not in RFORMULA_STAGES:
            raise ModelLoadError(
                f"cannot load {stage}: its metadata/ names the class {saved!r}, which "
                "RFormula.fit never puts into an RFormulaModel's pipelineModel/ (the JVM "
                "would load it by that name); expected one of "
                f"{', '.join(sorted(n.rsplit('.', 1)[1] for n in RFORMULA_STAGES))}. The "
                "directory was edited; load a directory you trust with Spark's own loader"
            )


def _resolve(name: str, path: str) -> type:
    refused = (
        f"cannot load {path}: its metadata/ names the class {name!r}; load_pipeline_model "
        f"loads Transformers of {' or '.join(p.rstrip('.') for p in ALLOWED_PACKAGES)} only "
        "(Spark's PipelineModel.load would import whatever module the file names)"
    )
    if not _DOTTED_NAME.match(name) or not name.startswith(ALLOWED_PACKAGES):
        raise ModelLoadError(refused)
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"{refused}; importing {module_name!r}: {exc}") from None
    cls = getattr(module, attr, None)
    if (
        not isinstance(cls, type)
        or not issubclass(cls, Transformer)
        or not cls.__module__.startswith(ALLOWED_PACKAGES)
        or not callable(getattr(cls, "read", None))
    ):
        raise ModelLoadError(f"{refused}; {name!r} is not a saved-able Transformer class there")
    return cls


def _build(stage: _Stage) -> PipelineModel:
    stages = [_build(s) if s.reader is None else s.reader.load(s.path) for s in stage.stages]
    return PipelineModel(stages=stages)._resetUid(stage.uid)
