"""Read the user's raw files as close to their original text as possible.

CSV is read with every column as a string (no inference) and JSON with
`primitivesAsString`, so a bad value reaches the quarantine exactly as written.
Records the parser cannot split land in `_corrupt_record`. Parquet keeps its types.
"""

from __future__ import annotations

import logging

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from fraud_app.errors import ConfigError, EmptyInputError
from fraud_app.etl.config import EtlSection
from fraud_app.etl.fs import HadoopFs

logger = logging.getLogger(__name__)

CORRUPT_COLUMN = "_corrupt_record"
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


def detect_format(fs: HadoopFs, path: str, configured: str | None) -> str:
    """The configured format, else the one extension shared by the files under `path`."""
    if configured:
        return configured
    names = fs.list_files(path) if fs.is_dir(path) else [path.rsplit("/", 1)[-1]]
    found = set()
    for name in names:
        base = name.lower()
        for compressed in (".gz", ".bz2", ".snappy", ".zst", ".lz4"):
            base = base.removesuffix(compressed)
        found.update(fmt for ext, fmt in _EXTENSIONS.items() if base.endswith(ext))
    if len(found) == 1:
        return found.pop()
    if not names:
        raise EmptyInputError(f"ETL input {path} holds no data files")
    raise ConfigError(
        f"etl.format: cannot tell the format of {path} from its file names "
        f"(found formats {sorted(found) or 'none'} in e.g. {sorted(names)[:3]}). "
        "Set etl.format to csv, parquet or json."
    )


def read_input(spark: SparkSession, path: str, cfg: EtlSection) -> tuple[DataFrame, str]:
    """(raw DataFrame, format). Raises EmptyInputError when `path` is missing or empty."""
    fs = HadoopFs(spark)
    if not fs.exists(path):
        raise EmptyInputError(
            f"ETL input {path} does not exist. Generate data first (`fraud-app generate`) "
            "or set etl.input / paths.raw to where your files are."
        )
    fmt = detect_format(fs, path, cfg.format)
    try:
        df = _READERS[fmt](spark, path, cfg)
    except AnalysisException as exc:
        if "UNABLE_TO_INFER_SCHEMA" in str(exc) or "empty" in str(exc).lower():
            raise EmptyInputError(f"ETL input {path} ({fmt}) holds no rows: {exc}") from exc
        raise
    if not [c for c in df.columns if c != CORRUPT_COLUMN]:
        raise EmptyInputError(f"ETL input {path} ({fmt}) has no columns and no rows")
    logger.info("reading %s input %s with columns %s", fmt, path, df.columns)
    return df, fmt


def _read_csv(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    reader = spark.read.option("header", True).option("sep", cfg.csv_delimiter)
    header = reader.option("inferSchema", False).csv(path).columns
    # explicit all-string schema + a corrupt-record column keeps malformed lines visible
    schema = StructType(
        [StructField(c, StringType()) for c in header] + [StructField(CORRUPT_COLUMN, StringType())]
    )
    return (
        reader.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .csv(path)
    )


def _read_json(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    return (
        spark.read.option("primitivesAsString", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .json(path)
    )


def _read_parquet(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    return spark.read.parquet(path)


_READERS = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet}
