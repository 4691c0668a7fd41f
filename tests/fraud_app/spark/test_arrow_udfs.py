"""fraud_app.spark.arrow_udfs: Spark 4.0 has no `functions.arrow_udf`; there the same Arrow
function runs inside a pandas UDF. Both paths run here on the pinned Spark (native=False is
the one 4.0 takes) and must give the same rows; the 4.0.5 run of the estimator and scoring
tests is in docs/DEPLOY.md section 6."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.spark.arrow_udfs import arrow_udf

pytestmark = pytest.mark.spark

ROWS = [([1.0, 2.0],), ([0.5, -1.5],), ([3.0, 4.0],), (None,), ([],)]
SCHEMA = T.StructType([T.StructField("x", T.ArrayType(T.FloatType()))])


def _sum_and_len(x: pa.Array) -> pa.Array:
    """(sum, length) of each row's list, nulls for a null row, like the scorers' structs."""
    lengths = pc.list_value_length(x)
    offsets = x.offsets.to_numpy()
    values = x.flatten().to_numpy(zero_copy_only=False).astype("float64")
    sums = [None if not x[i].is_valid else float(values[offsets[i] : offsets[i + 1]].sum())
            for i in range(len(x))]  # fmt: skip
    return pa.StructArray.from_arrays(
        [pa.array(sums, pa.float64()), lengths.cast(pa.float64())], ["s", "n"]
    )


def _lengths(columns: Iterator[pa.Array]) -> Iterator[pa.Array]:
    for x in columns:  # the batch scorer's form: an iterator of batches, one result each
        yield pc.list_value_length(x).cast(pa.float64())


def _rows(spark, native: bool):
    df = spark.createDataFrame(ROWS, SCHEMA).repartition(3)  # some partitions empty or small
    both = arrow_udf(_sum_and_len, "s double, n double", native=native)
    lengths = arrow_udf(_lengths, T.DoubleType(), iterator=True, native=native)
    out = df.select("x", both(F.col("x")).alias("b"), lengths(F.col("x")).alias("f"))
    return sorted((str(r.x), r.b.s, r.b.n, r.f) for r in out.collect())


def test_the_pandas_path_gives_the_native_rows(spark):
    through_pandas = _rows(spark, native=False)
    assert through_pandas == [
        ("None", None, None, None),
        ("[0.5, -1.5]", -1.0, 2.0, 2.0),
        ("[1.0, 2.0]", 3.0, 2.0, 2.0),
        ("[3.0, 4.0]", 7.0, 2.0, 2.0),
        ("[]", 0.0, 0.0, 0.0),
    ]
    if hasattr(F, "arrow_udf"):  # Spark 4.1+: the native arrow_udf agrees
        assert _rows(spark, native=True) == through_pandas
