"""Scalar Arrow UDFs on every Spark fraud-app runs on (fraud_app.spark.versions).

`pyspark.sql.functions.arrow_udf` (Spark 4.1+) hands the function `pyarrow.Array` batches
and takes Arrow back, with no pandas in between. Spark 4.0 has no such UDF: there the same
function runs inside a scalar-iterator pandas UDF, its batches converted from pandas to
Arrow and its results back (the same rows and values; the conversions cost time, see
docs/DEPLOY.md section 6).
"""

from collections.abc import Callable, Iterator


def arrow_udf(fn: Callable, return_type, *, iterator: bool = False, native: bool | None = None):
    """A scalar UDF of one column running `fn` on Arrow arrays.

    fn: pa.Array -> pa.Array, or with iterator=True, Iterator[pa.Array] -> Iterator[pa.Array]
    (set-up once per task). return_type: a DataType or DDL string; a struct's results are
    pa.StructArray. native=None uses Spark's arrow_udf where this pyspark has it; False
    forces the pandas path (Spark 4.0's), which the tests run on every version.
    """
    from pyspark.sql import functions as F

    if native is None:
        native = hasattr(F, "arrow_udf")
    if native:  # an iterator fn carries its Iterator[pa.Array] hints: Spark reads them
        return F.arrow_udf(fn, return_type)
    return _through_pandas(fn, return_type, iterator)


def _through_pandas(fn: Callable, return_type, iterator: bool):
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql.functions import pandas_udf

    def to_arrow(series: pd.Series) -> pa.Array:
        array = pa.array(series)  # a list column arrives as numpy arrays (None for null)
        # an empty (or all-null) batch has no element type to infer; the column is an array
        return array.cast(pa.list_(pa.float64())) if pa.types.is_null(array.type) else array

    def to_pandas(array: pa.Array):
        if pa.types.is_struct(array.type):
            return pd.DataFrame(
                {
                    f.name: part.to_pandas()
                    for f, part in zip(array.type, array.flatten(), strict=True)
                }
            )
        return array.to_pandas()

    def run(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        arrays = (to_arrow(s) for s in batches)
        for out in fn(arrays) if iterator else map(fn, arrays):
            yield to_pandas(out)

    return pandas_udf(run, return_type)
