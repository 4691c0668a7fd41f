"""Read a user's Parquet files the way CSV files are read: each file by its own schema.

Spark reads a folder of Parquet files with the schema of ONE file (no `mergeSchema`), so
a delivery whose files differ lost or broke data: a column that only some files have was
dropped silently, a column stored as text in one file and as a number in another failed
in the middle of the ETL job (`PARQUET_COLUMN_DATA_TYPE_MISMATCH`, a traceback), and the
nanosecond timestamps pandas writes by default (`df.to_parquet`, `TIMESTAMP(NANOS)`) were
refused by Spark (`PARQUET_TYPE_ILLEGAL`) before anything was read.

Here every file's footer is read on the driver (no Spark job), and:
  - a file whose column names differ from the first file's is a SchemaError naming it
    (the same rule and words as CSV headers);
  - files whose column types differ are read group by group, and a column whose Spark
    type differs between groups is read as text in all of them (the ETL parses text as
    it parses CSV, and keeps the value as written in the quarantine; a float holding an
    integer becomes that integer's text, so id 7.0 of one file is id 7 of another);
  - nanosecond timestamps are read as their int64 count (Spark's
    `spark.sql.legacy.parquet.nanosAsLong`, for the read only) and turned into Spark
    timestamps (microseconds: the last three digits are cut, as Spark keeps no finer).

Does not own format detection, CSV or JSON (fraud_app.etl.reader).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce

from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.etl import parsing
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.reader import columns_problem, quoted

logger = logging.getLogger(__name__)

NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
FOOTER_THREADS = 4  # footers read at once (each is a small read of the file's tail)
_NANOS = "TIMESTAMP(NANOS"


@dataclass(frozen=True)
class FileSchema:
    """One file's top-level columns, as written in its footer."""

    names: tuple[str, ...]
    fields: tuple[str, ...]  # the Parquet field declarations, e.g. "optional int64 ts (...)"

    @property
    def nanos(self) -> tuple[str, ...]:
        """Columns holding nanosecond timestamps (Spark refuses them by default)."""
        return tuple(n for n, f in zip(self.names, self.fields, strict=True) if _NANOS in f)

    @property
    def naive_nanos(self) -> tuple[str, ...]:
        """Those of them that are wall clocks (isAdjustedToUTC false: pandas' datetime64
        without a zone), read as TIMESTAMP_NTZ so that etl.time_zone places them."""
        return tuple(n for n, f in zip(self.names, self.fields, strict=True)
                     if _NANOS + ",false)" in f.replace(" ", ""))  # fmt: skip


def footer_schema(spark: SparkSession, file: str) -> FileSchema:
    """The footer schema of one Parquet file; SchemaError when it is not a Parquet file."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(file)
    try:
        reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(
            jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(path, conf)
        )
        try:
            schema = reader.getFooter().getFileMetaData().getSchema()
        finally:
            reader.close()
    except Py4JJavaError as exc:
        problem = str(exc.java_exception.getMessage() or exc.java_exception)
        raise SchemaError(
            f"ETL input file {file} is not a readable Parquet file ({problem.splitlines()[0]}). "
            "Expected Parquet files only under etl.input; move that file, or set etl.format"
        ) from exc
    fields = list(schema.getFields())
    return FileSchema(tuple(f.getName() for f in fields), tuple(f.toString() for f in fields))


def _check_names(schemas: dict[FileSchema, list[str]], path: str) -> FileSchema:
    """The first file's schema; SchemaError naming the first file whose columns differ."""
    first = min(schemas, key=lambda s: schemas[s][0])
    for schema, files in schemas.items():
        folded = [n.casefold() for n in schema.names]
        same = sorted({n for n, f in zip(schema.names, folded, strict=True) if folded.count(f) > 1})
        if same:  # Spark compares names without case: a traceback (COLUMN_ALREADY_EXISTS)
            raise SchemaError(
                f"ETL input file {files[0]}: its columns {same} differ only in case; Spark "
                "compares column names without case, so it cannot tell them apart. Expected "
                "each name once: rename or drop one"
            )
        missing = sorted(set(first.names) - set(schema.names))
        extra = sorted(set(schema.names) - set(first.names))
        if missing or extra:
            problem = columns_problem(missing, extra)
            raise SchemaError(
                f"ETL input file {files[0]}: it {problem} compared with "
                f"{schemas[first][0]} (columns {list(first.names)}). Every Parquet file under "
                f"{path} must have the same column names, in any order; fix or move that file."
            )
    return first


@contextmanager
def _nanos_as_long(spark: SparkSession, needed: bool):
    """Spark's switch that reads TIMESTAMP(NANOS) as int64, set only while `needed`."""
    if not needed:
        yield
        return
    before = spark.conf.get(NANOS_AS_LONG, None)
    spark.conf.set(NANOS_AS_LONG, "true")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(NANOS_AS_LONG)
        else:
            spark.conf.set(NANOS_AS_LONG, before)


def _from_nanos(name: str, naive: bool) -> F.Column:
    """Epoch nanoseconds (int64) -> timestamp, floored to the microsecond in integers (a
    double holds such a count only to ~256 ns). `naive`: a wall clock (no zone), returned
    as TIMESTAMP_NTZ, as Spark reads a naive microsecond column (the session is UTC)."""
    q = quoted(name)
    ts = F.timestamp_micros(F.expr(f"({q} - pmod({q}, 1000)) div 1000"))
    return (ts.cast("timestamp_ntz") if naive else ts).alias(name)


def _read(spark: SparkSession, files: list[str], base: str | None, schema: FileSchema):
    reader = spark.read.option("basePath", base) if base else spark.read
    nanos = schema.nanos
    with _nanos_as_long(spark, bool(nanos)):
        df = reader.parquet(*files)
        # the plan is analysed now, with the switch set; the scan keeps its schema
        naive = set(schema.naive_nanos)
        return df.withColumns({n: _from_nanos(n, n in naive) for n in nanos}) if nanos else df


def _as_text(frame: DataFrame, columns: list[str]) -> DataFrame:
    """`columns` as text; a float holding an integer as that integer ('7', not '7.0': the
    same id as the 7 of an integer file)."""
    types = {f.name: f.dataType for f in frame.schema.fields}
    return frame.withColumns({c: parsing.number_text(F.col(quoted(c)), types[c]) for c in columns})


def read_parquet(spark: SparkSession, path: str) -> DataFrame:
    """Every Parquet file under `path` by its own schema (see the module docstring)."""
    fs = HadoopFs(spark)
    files = fs.list_paths(path)
    with ThreadPoolExecutor(max_workers=max(1, min(FOOTER_THREADS, len(files)))) as pool:
        found = list(pool.map(lambda f: footer_schema(spark, f), files))
    groups: dict[FileSchema, list[str]] = {}
    for file, schema in zip(files, found, strict=True):
        groups.setdefault(schema, []).append(file)
    if not groups:
        return spark.read.parquet(path)  # no data file: Spark's own (empty) answer
    first = _check_names(groups, path)
    if len(groups) == 1:
        return _read(spark, [path], None, first)
    base = path if fs.is_dir(path) else None
    frames = [_read(spark, members, base, s) for s, members in groups.items()]
    types = [dict(f.dtypes) for f in frames]
    mixed = sorted(
        {c for c in types[0] if len({t.get(c) for t in types}) > 1},
        key=list(frames[0].columns).index,
    )
    if mixed:
        logger.warning(
            "ETL input %s: column(s) %s have different types in different Parquet files; "
            "they are read as text and parsed like CSV values",
            path, mixed,
        )  # fmt: skip
    order = [quoted(c) for c in frames[0].columns]
    frames = [_as_text(f, mixed).select(*order) for f in frames]
    logger.info("ETL input %s: %d Parquet schemas (first: %s)", path, len(groups), first.names)
    return reduce(DataFrame.unionByName, frames)
