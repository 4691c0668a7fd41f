"""load_pipeline_model refuses the stages whose saved files are code (session 51, probe51e).

A SQLTransformer's `statement` is SQL the JVM runs when the pipeline transforms (and when
it checks a schema): `reflect('java.lang.System', 'getenv', ...)` copies an environment
variable of the JVM into every row, `INSERT OVERWRITE DIRECTORY` writes the rows anywhere. An
RFormulaModel keeps a PipelineModel the JVM loads by the class names its files give, so
an edited one could carry such a stage past the check of the outer pipeline.
"""

from __future__ import annotations

import json
import re

import pytest

from fraud_app.errors import ModelLoadError

pytestmark = pytest.mark.spark

# the JVM's own environment (set when it started): a credential there would be copied too
STATEMENT = "SELECT *, reflect('java.lang.System', 'getenv', 'PATH') AS leaked FROM __THIS__"


def _rewrite_metadata(stage, edit) -> None:
    (part,) = [p for p in (stage / "metadata").iterdir() if p.name.startswith("part-")]
    metadata = json.loads(part.read_text())
    edit(metadata)
    part.write_text(json.dumps(metadata))
    for crc in (stage / "metadata").glob(".*.crc"):
        crc.unlink()


def test_a_sql_transformer_stage_is_refused(raw_df, tmp_path):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import SQLTransformer, VectorAssembler

    from fraud_app.ml import load_pipeline_model

    path = tmp_path / "pm"
    assembler = VectorAssembler(inputCols=list("ab"), outputCol="v")
    PipelineModel(stages=[assembler, SQLTransformer(statement=STATEMENT)]).save(str(path))
    (stage,) = [p for p in (path / "stages").iterdir() if p.name.startswith("1_")]
    with pytest.raises(
        ModelLoadError, match=rf"cannot load {re.escape(str(stage))}: it is a SQLTransformer, "
        r"whose saved statement is SQL the directory chooses"
    ):  # fmt: skip
        load_pipeline_model(str(path))
    # what the refusal is for: Spark's own loader runs the directory's SQL, which called a
    # Java method and put the JVM's environment variable into every row
    leaked = PipelineModel.load(str(path)).transform(raw_df).select("leaked").distinct()
    (value,) = [r[0] for r in leaked.collect()]
    assert isinstance(value, str) and "/" in value


def test_an_rformula_model_loads_and_one_carrying_another_stage_is_refused(raw_df, tmp_path):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import RFormula

    from fraud_app.ml import load_pipeline_model

    df = raw_df.selectExpr("id", "a", "b", "CASE WHEN c > 0 THEN 'x' ELSE 'y' END AS s", "label")
    path = tmp_path / "rf"
    PipelineModel(stages=[RFormula(formula="label ~ a + b + s").fit(df)]).save(str(path))
    loaded = load_pipeline_model(str(path))  # what RFormula.fit writes still loads
    assert loaded.transform(df).columns == PipelineModel.load(str(path)).transform(df).columns
    (rf_stage,) = list((path / "stages").iterdir())
    inner = rf_stage / "pipelineModel" / "stages"
    (pruner,) = [p for p in inner.iterdir() if "columnPruner" in p.name]

    def to_sql(metadata):
        metadata["class"] = "org.apache.spark.ml.feature.SQLTransformer"
        metadata["paramMap"] = {"statement": STATEMENT}
        metadata["defaultParamMap"] = {}

    _rewrite_metadata(pruner, to_sql)
    with pytest.raises(
        ModelLoadError, match=rf"cannot load {re.escape(str(pruner))}: its metadata/ names the "
        r"class 'org\.apache\.spark\.ml\.feature\.SQLTransformer', which RFormula\.fit never puts"
    ):  # fmt: skip
        load_pipeline_model(str(path))
