"""Input checks and preparation for the dlcore estimators.

`features_array` turns the features column (Spark `VectorUDT`, `array<float|double>` or an
array of integers) into the float array the trainer and the scorer read. `check_summary` raises the input
errors (feature width, null or NaN/infinite features, null and non-binary labels) from a
`DataSummary`: the one the trainer's own data pass makes (DlcoreClassifier: no Spark job
of the estimator's own), or the one `inspect_training_data` makes in ONE pass (partial
sums per partition) when the whole data's feature moments are needed before training
(BalancedBaggingClassifier standardises every member with them, as `fraud-app train` does).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.errors import EmptyInputError, SchemaError
from fraud_app.etl.config import BUILTIN_LABELS
from fraud_app.etl.reader import quoted
from fraud_app.scoring.batch import column_key
from fraud_app.spark.connect import is_connect
from fraud_app.spark.summary import DataSummary, check_content, check_weights, summarize_arrays

_NUMERIC = (
    T.FloatType, T.DoubleType, T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.DecimalType
)  # fmt: skip
_ARRAY_ELEMENTS = (T.FloatType, T.DoubleType, T.IntegerType, T.LongType, T.ShortType, T.ByteType)


def require_dataframe(df: object, what: str) -> None:
    """A Spark DataFrame (classic or Connect): a pandas one failed with AttributeError
    "'DataFrame' object has no attribute 'schema'", naming neither the cause nor the fix."""
    if not isinstance(df, DataFrame):
        kind = f"{type(df).__module__}.{type(df).__qualname__}"
        hint = " (convert it: spark.createDataFrame(pdf))" if kind.startswith("pandas.") else ""
        raise SchemaError(f"{what} needs a Spark DataFrame; received {kind}{hint}")


def spark_column(df: DataFrame, name: str) -> str | None:
    """The column of `df` that Spark reads for `name`: that column, or under
    spark.sql.caseSensitive=false (Spark's default) the one column whose name differs in
    case only (`LogisticRegression(featuresCol="Features")` reads `features`; ours refused
    it, session 50); None when there is none, or several (`matching_columns`)."""
    found = matching_columns(df, name)
    return found[0] if len(found) == 1 else None


def matching_columns(df: DataFrame, name: str) -> list[str]:
    """The columns of `df` that `name` names as the session compares names: more than one
    (`features` beside `Features` in a case-insensitive session, even for the exact
    `features`) is ambiguous, and Spark refuses it (AMBIGUOUS_COLUMN_OR_FIELD; review50f)."""
    key = column_key(df.sparkSession)
    return [c for c in df.columns if key(c) == key(name)]


def named_as(df: DataFrame, roles: dict[str, str | None], what: str) -> DataFrame:
    """`df` with the column each of `roles` (param -> column name) reads named exactly as
    the param says (fit reads its columns by the params' names, in the schema too); a
    column read by two params in another case each (`labelCol="label"`,
    `weightCol="Label"`) is refused as one column named twice is."""
    columns = {p: spark_column(df, c) or c for p, c in roles.items() if c}
    require_distinct(columns, what)  # type: ignore[arg-type]
    renames = {columns[p]: c for p, c in roles.items() if c and columns[p] != c}
    if not renames:
        return df
    return df.select(*[F.col(quoted(c)).alias(renames.get(c, c)) for c in df.columns])


def require_columns(df: DataFrame, columns: list[str | None], what: str) -> None:
    missing = [c for c in columns if c and spark_column(df, c) is None]
    twice = {c: found for c in missing if len(found := matching_columns(df, c)) > 1}
    if twice:  # "not found" listed them as available (review50f)
        named = "; ".join(f"{c!r} matches columns {found}" for c, found in twice.items())
        raise SchemaError(
            f"{what}: column name(s) ambiguous: {named} (this session compares column names "
            "as spark.sql.caseSensitive says; Spark's own estimators refuse them too). Drop "
            "or rename all but one of those columns."
        )
    if missing:
        raise SchemaError(
            f"{what}: column(s) {missing} not found. Available: {df.columns}. "
            "Set the matching *Col param or add the column."
        )


def features_array(df: DataFrame, col: str, what: str) -> Column:
    """The features column as array<float>; a clear error for any other type. A null vector
    stays null (Spark's vector_to_array fails on it with a JVM error naming no column), so
    the estimators' data checks and the scorer name the column and count the null rows."""
    require_columns(df, [col], what)
    col = spark_column(df, col) or col  # `Features` for `features`, as Spark reads it
    dtype = df.schema[col].dataType
    if isinstance(dtype, VectorUDT):
        return F.when(F.col(col).isNotNull(), vector_to_array(F.col(col), "float32"))
    # integer arrays are numbers too (they were refused, with a hint to use F.array, which
    # builds the same array<int> again); cast to float32 like every feature
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, _ARRAY_ELEMENTS):
        return F.col(col).cast("array<float>")
    raise SchemaError(
        f"{what}: features column {col!r} must be a Spark ML vector or array of numbers "
        f"(float, double, int, long, short, byte). Received {dtype.simpleString()}; use "
        "VectorAssembler or F.array(...)."
    )


def check_width(df: DataFrame, col: str, feats: Column, width: int, what: str) -> None:
    """SchemaError now, not when an action runs, when the features column has another
    width than the model's: read from the column's ML attributes (VectorAssembler) or,
    when reaching it runs no shuffle, from the first row (the scorer still checks every row;
    on a streaming DataFrame, where collecting a row is refused, only the scorer)."""
    found = df.schema[col].metadata.get("ml_attr", {}).get("num_attrs")
    source = "its ML attributes"
    if not found and df.isStreaming:  # a stream has no first row to read now
        return
    if not found:
        found, source = _first_width(df, feats), "its first row"
    if found and int(found) != width:
        raise SchemaError(
            f"{what}: features column {col!r} has {int(found)} values per row ({source}); the "
            f"model expects {width} (the width it was trained on). Assemble the same features, "
            "in the same order, as for fit"
        )


def feature_names(df: DataFrame, col: str) -> list[str] | None:
    """Names from VectorAssembler's ML attributes when present (None otherwise: f0, f1, ...
    for the width the training pass finds)."""
    ml_attr = df.schema[col].metadata.get("ml_attr", {})
    width = ml_attr.get("num_attrs")
    if not width:
        return None
    found = {a["idx"]: a.get("name") for group in ml_attr.get("attrs", {}).values() for a in group}
    names = [found.get(i) or f"f{i}" for i in range(width)]
    return names if len(set(names)) == width else [f"f{i}" for i in range(width)]


def check_feature_order(df: DataFrame, col: str, trained: list[str], what: str) -> None:
    """SchemaError when the features column names (ML attributes) the model's features in
    another order: the same width, so every row was scored reading one feature as another
    (VectorAssembler(inputCols=["b", "a", ...]) at transform, ["a", "b", ...] at fit). Other
    names (renamed columns, a column without names) are not judged."""
    names = feature_names(df, col)
    if not names or names == list(trained) or sorted(names) != sorted(trained):
        return
    moved = [n for n, t in zip(names, trained, strict=True) if n != t]
    raise SchemaError(
        f"{what}: features column {col!r} holds the model's features in another order "
        f"({len(moved)} of {len(names)} moved): {names}; the model was trained on {list(trained)}. "
        "Assemble them in the training order (VectorAssembler inputCols as for fit)"
    )


def _first_width(df: DataFrame, feats: Column) -> int | None:
    if is_connect(df):  # no JVM plan to look at: the scoring tasks name a wrong width
        return None
    peek = df.select(F.size(feats).alias("n")).limit(1)
    # Only above cached data, if any: a shuffle to run first would make this peek a full stage.
    plan = peek._jdf.queryExecution().executedPlan().toString().split("InMemoryRelation")[0]
    if "Exchange" in plan:
        return None
    rows = peek.collect()
    n = rows[0]["n"] if rows else None
    return n if n is not None and n > 0 else None


def require_distinct(roles: dict[str, str | None], what: str) -> None:
    """Each column param names its own column: weightCol = labelCol (or the features) failed
    with Spark's AnalysisException `Reference 'label' is ambiguous`, naming no param."""
    seen: dict[str, str] = {}
    for param, col in roles.items():
        if not col:
            continue
        if col in seen:
            raise SchemaError(
                f"{what}: {seen[col]} and {param} both name column {col!r}; each needs a column "
                "of its own (e.g. a weight column computed beside the label)"
            )
        seen[col] = param


def validation_flag(df: DataFrame, col: str, what: str) -> Column:
    """validationIndicatorCol as a boolean: booleans as they are, numbers 0 = false, text
    as Spark casts it (true/false, yes/no, y/n, t/f, 1/0). Text that is none of those is
    named (one look at the rows that hold text: Spark's CAST_INVALID_INPUT error, a JVM
    trace, came from inside fit); other types are refused."""
    dtype = df.schema[col].dataType
    if isinstance(dtype, (T.BooleanType, *_NUMERIC)):
        return F.col(col).cast("boolean")
    if not isinstance(dtype, T.StringType):
        raise SchemaError(
            f"{what}: validationIndicatorCol {col!r} must be boolean, numeric or text such as "
            f"true/false. Received {dtype.simpleString()}"
        )
    flag = F.col(col).try_cast("boolean")
    bad = df.where(F.col(col).isNotNull() & flag.isNull()).select(col).limit(1).collect()
    if bad:
        raise SchemaError(
            f"{what}: validationIndicatorCol {col!r} holds {bad[0][0]!r}, which is neither true "
            "nor false; expected true/false, yes/no, y/n, t/f or 1/0 (null = a training row)"
        )
    return flag


def require_numeric(df: DataFrame, col: str, what: str) -> None:
    dtype = df.schema[col].dataType
    if not isinstance(dtype, _NUMERIC):
        raise SchemaError(
            f"{what}: column {col!r} must be numeric. Received {dtype.simpleString()}"
        )


def label_column(df: DataFrame, col: str, what: str) -> Column:
    """The label as a double: numbers as they are, booleans as 1/0, strings such as "1",
    "0", "1.0", "true", "false" parsed (anything else becomes null, which the binary label
    check reports); SchemaError for any other type."""
    dtype = df.schema[col].dataType
    if isinstance(dtype, T.StringType):
        # label text read as 1 / 0 by ETL's built-in spellings (etl.config.BUILTIN_LABELS,
        # the one list: true/false, yes/no, ...); other text is cast as a number
        text = F.lower(F.trim(F.col(col)))
        return (
            F.when(text.isin(*[k for k, v in BUILTIN_LABELS.items() if v == 1]), 1.0)
            .when(text.isin(*[k for k, v in BUILTIN_LABELS.items() if v == 0]), 0.0)
            .otherwise(text.try_cast("double"))
        )
    if not isinstance(dtype, T.BooleanType):
        require_numeric(df, col, what)
    return F.col(col).cast("double")


def unread_label_text(df: DataFrame, col: str, what: str) -> str | None:
    """The first text of a text label column that `label_column` cannot read as 1 or 0
    (None when the column is not text or all of it reads). For the error of a fit that
    found labels other than 0 / 1: "fraud" / "legit" became null labels, which the check
    named "a null or NaN label", not the text the DataFrame holds."""
    if col not in df.columns or not isinstance(df.schema[col].dataType, T.StringType):
        return None
    unread = F.col(col).isNotNull() & label_column(df, col, what).isNull()
    rows = df.where(unread).select(col).limit(1).collect()
    return rows[0][0] if rows else None


def _batch_summary(features: str, label: str, weight: str | None = None):
    """One DataSummary row per partition with rows (its Arrow batches' summaries combined
    in order): a row per batch made the driver's share grow with the rows, ~5 KB of Python
    per 10,000 rows at 30 features (docs/PROBES.md, session 42). Combined as they come
    (a running summary): kept in a list, they were that share again in each task, ~23 MB
    for a partition of 10^8 rows (session 42 review)."""

    def fn(batches: Iterator):
        import pyarrow as pa

        total = None
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            col = batch.column(features)
            lengths = col.value_lengths().drop_null().to_numpy(zero_copy_only=False)
            widths = sorted({int(lengths.min()), int(lengths.max())}) if lengths.size else []
            y = batch.column(label).to_numpy(zero_copy_only=False).astype(np.float64)
            if col.null_count or len(widths) != 1:
                part = DataSummary(n, 0, tuple(widths), col.null_count, 0, 0, 0.0, *_EMPTY)
            else:
                flat = _float32(col.flatten())
                w = None
                if weight:  # a null weight as NaN, and float32, as the trainer's blocks read it
                    w = _float32(batch.column(weight)).astype(np.float64)
                part = summarize_arrays(flat.reshape(n, widths[0]), y, w)
            total = part if total is None else DataSummary.combine([total, part])
        if total is not None:
            yield pa.RecordBatch.from_pylist([_as_row(total)])

    return fn


def _float32(column) -> np.ndarray:
    """An Arrow column as float32, a value beyond float32's range infinite without numpy's
    overflow warning (the checks name such values)."""
    with np.errstate(over="ignore"):
        return column.to_numpy(zero_copy_only=False).astype(np.float32)


_EMPTY = (np.zeros(0), np.zeros(0))
_SUMMARY_SCHEMA = (
    "rows long, positives long, widths array<long>, null_rows long, nonfinite long, "
    "bad_labels long, bad_label_example double, s1 array<double>, s2 array<double>, "
    "negative_weights long, nonfinite_weights long, negative_weight_example double, "
    "weight_sum double, positive_weight_sum double, lo array<double>, hi array<double>, "
    "ws1 array<double>, ws2 array<double>"
)


def _as_row(part: DataSummary) -> dict:
    # `content` is the trainer's row checksum, which this pass does not compute
    row = {k: v for k, v in vars(part).items() if k != "content"}
    return {
        **row,
        "widths": list(part.widths),
        "s1": part.s1.tolist(),
        "s2": part.s2.tolist(),
        "lo": part.lo.tolist(),
        "hi": part.hi.tolist(),
        "ws1": part.ws1.tolist(),
        "ws2": part.ws2.tolist(),
    }


def inspect_training_data(
    df: DataFrame,
    features: str,
    label: str,
    what: str,
    no_rows: str | None = None,
    weight: str | None = None,
) -> DataSummary:
    """One pass over (features array, label double[, weight double]): checks + feature
    moments, weighted with a weight column (for an estimator that needs the whole data's
    statistics before it splits it)."""
    cols = [features, label, *([weight] if weight else [])]
    parts = df.select(*cols).mapInArrow(_batch_summary(*cols), _SUMMARY_SCHEMA)
    rows = parts.collect()  # one small row per partition
    summary = DataSummary.combine(
        [
            DataSummary(
                **{
                    **r.asDict(),
                    "widths": tuple(r["widths"]),
                    "s1": np.asarray(r["s1"], np.float64),
                    "s2": np.asarray(r["s2"], np.float64),
                    **{k: np.asarray(r[k], np.float64) for k in ("lo", "hi", "ws1", "ws2")},
                }
            )
            for r in rows
        ]
    )
    check_summary(summary, features, label, what, weight=weight, no_rows=no_rows)
    return summary


def check_summary(
    summary: DataSummary,
    features: str,
    label: str,
    what: str,
    expected_width: int | None = None,
    weight: str | None = None,
    no_rows: str | None = None,
) -> None:
    """Every input error an estimator reports, each naming its column (no_rows: why there
    are no rows, when the estimator knows better than 'the DataFrame has no rows')."""
    if summary.rows == 0:
        raise EmptyInputError(f"{what}: {no_rows or 'the training DataFrame has no rows'}")
    if summary.null_rows:
        raise SchemaError(
            f"{what}: features column {features!r} has {summary.null_rows} null rows; "
            "drop or impute them"
        )
    if summary.width is None:
        raise SchemaError(
            f"{what}: features column {features!r} holds vectors of different lengths "
            f"{list(summary.widths)}"
        )
    if expected_width is not None and summary.width != expected_width:
        raise SchemaError(
            f"{what}: features column {features!r} has {summary.width} values per row; "
            f"expected {expected_width}"
        )
    check_content(summary, features, label, what)
    check_weights(summary, weight, what)
    if summary.positives in (0, summary.rows):  # after check_content: every label is 0 or 1
        only = "0 (no fraud)" if summary.positives == 0 else "1 (no normal)"
        raise EmptyInputError(
            f"{what}: label column {label!r} holds only {only} rows in the {summary.rows} "
            "training rows: a classifier needs both classes; check the labels or the filter "
            "that selected the rows"
        )
