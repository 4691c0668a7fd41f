"""ETL: raw files -> canonical Parquet (typed, deduplicated, partitioned by event_date)
plus a quarantine of the rows that break a rule, with nothing silently dropped.

    input rows = output rows + quarantined rows + dropped duplicates

is measured (input and both outputs are counted independently) and checked on every
run; the counts go to the log, to the returned EtlResult and to `_etl_report.json`
inside the output directory. Outputs are written to temp dirs and swapped in, so a
re-run on the same input gives the same output.

Pure steps (`annotate_rows`, `valid_rows`, `quarantine_rows`, `deduplicate`) take and return DataFrames; `run_etl` adds
the reading, writing and bookkeeping.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from fraud_app.config import AppConfig
from fraud_app.errors import DataIntegrityError, EmptyInputError
from fraud_app.etl.config import EtlSection
from fraud_app.etl.fs import HadoopFs, StagedDir
from fraud_app.etl.reader import read_input
from fraud_app.etl.rules import DETAIL, PARSED, REASON, annotate, parse_columns, resolve_sources
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

logger = logging.getLogger(__name__)

REPORT_NAME = "_etl_report.json"  # leading "_": Spark's readers skip it
_RAW_PREFIX = "__raw_"
CANONICAL_NAMES: tuple[str, ...] = tuple(c.name for c in CANONICAL_COLUMNS)
# tie-break after the earliest timestamp: every other column, so the kept row never
# depends on input order
_DEDUP_ORDER = (
    "timestamp",
    *(c for c in CANONICAL_NAMES if c not in ("transaction_id", "timestamp")),
)


@dataclass(frozen=True)
class EtlResult:
    input_path: str
    input_format: str
    output_path: str
    quarantine_path: str
    report_path: str
    input_rows: int
    output_rows: int
    quarantine_rows: int
    duplicate_rows: int
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_examples: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def annotate_rows(raw: DataFrame, cfg: EtlSection, where: str) -> DataFrame:
    """One row per input row: canonical typed columns, `reason`/`reason_detail` (null =
    clean) and, for rejected rows only, the original values as strings (`__raw_<i>`,
    i = position in `raw.columns`). SchemaError before any Spark job."""
    annotated = annotate(parse_columns(raw, resolve_sources(raw, cfg, where), cfg))
    rejected = F.col(REASON).isNotNull()
    return annotated.select(
        *[F.col(PARSED + c).alias(c) for c in CANONICAL_NAMES],
        REASON,
        DETAIL,
        *[
            F.when(rejected, F.col(f"`{c}`").cast("string")).alias(f"{_RAW_PREFIX}{i}")
            for i, c in enumerate(raw.columns)
        ],
    )


def valid_rows(annotated: DataFrame) -> DataFrame:
    """The rows that broke no rule, in the canonical layout (duplicates still present)."""
    return annotated.filter(F.col(REASON).isNull()).select(*CANONICAL_NAMES)


def quarantine_rows(annotated: DataFrame, raw_columns: list[str]) -> DataFrame:
    """The rows that broke a rule: every original column as a string + reason + detail."""
    return annotated.filter(F.col(REASON).isNotNull()).select(
        *[F.col(f"{_RAW_PREFIX}{i}").alias(c) for i, c in enumerate(raw_columns)], REASON, DETAIL
    )


def deduplicate(valid: DataFrame) -> DataFrame:
    """One row per transaction_id: the earliest, ties broken by all other columns."""
    order = [F.col(c).asc_nulls_first() for c in _DEDUP_ORDER]
    w = Window.partitionBy("transaction_id").orderBy(*order)
    return valid.withColumn("_n", F.row_number().over(w)).filter("_n = 1").drop("_n")


def to_partitioned(df: DataFrame) -> DataFrame:
    """Add event_date; one task per date, rows in time order (fewer files, PIT-friendly)."""
    return (
        df.withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
        .repartition(PARTITION_COLUMN)
        .sortWithinPartitions(PARTITION_COLUMN, "timestamp", "transaction_id")
    )


def run_etl(spark: SparkSession, config: AppConfig) -> EtlResult:
    """Read `etl.input`, write canonical + quarantine Parquet, return the counts.

    The input is parsed once into a staging Parquet dataset (typed columns + reason,
    raw strings only for rejected rows); counts, quarantine and output are read from it.
    """
    started = time.monotonic()
    cfg: EtlSection = config.etl
    fs = HadoopFs(spark)
    src = cfg.input or str(config.paths.resolve("raw"))
    raw, fmt = read_input(spark, src, cfg)
    annotated = annotate_rows(raw, cfg, src)
    input_rows = raw.count()
    if input_rows == 0:
        raise EmptyInputError(f"ETL input {src} ({fmt}) holds no rows")
    out = StagedDir(fs, cfg.output or str(config.paths.resolve("canonical")))
    qdir = StagedDir(fs, cfg.quarantine or str(config.paths.resolve("quarantine")))
    stage_path = f"{out.tmp}-stage"
    try:
        # parse once: re-reading the staged rows beats re-parsing the input, even for
        # Parquet input (1M rows, shared machine: 53-65 s staged vs 93-128 s re-parsed)
        annotated.write.mode("error").parquet(stage_path)
        stage = spark.read.parquet(stage_path)
        counts = _write_outputs(spark, stage, raw.columns, out, qdir, cfg)
        result = EtlResult(
            input_path=src, input_format=fmt, output_path=out.final, quarantine_path=qdir.final,
            report_path=f"{out.final}/{REPORT_NAME}", input_rows=input_rows,
            seconds=round(time.monotonic() - started, 3), **counts,
        )  # fmt: skip
        _check_accounting(result)
        fs.write_text(f"{out.tmp}/{REPORT_NAME}", json.dumps(result.to_dict(), indent=2))
    except BaseException:
        out.discard()
        qdir.discard()
        raise
    finally:
        fs.delete(stage_path)
    qdir.commit()
    out.commit()
    _log(result)
    return result


def _write_outputs(
    spark: SparkSession,
    stage: DataFrame,
    raw_columns: list[str],
    out: StagedDir,
    qdir: StagedDir,
    cfg: EtlSection,
) -> dict:
    """Write quarantine and deduplicated output into their temp dirs; return the counts."""
    by_reason = {r[0]: r[1] for r in stage.groupBy(REASON).count().collect()}
    n_valid = by_reason.pop(None, 0)
    quarantine_rows(stage, raw_columns).write.mode("error").parquet(qdir.tmp)
    valid = valid_rows(stage)
    dedup = to_partitioned(deduplicate(valid))
    dedup.write.mode("error").partitionBy(PARTITION_COLUMN).parquet(out.tmp)
    n_out = spark.read.parquet(out.tmp).count() if n_valid else 0
    if n_valid == 0:
        logger.warning("ETL: every row was quarantined; the canonical output is empty")
    return {
        "output_rows": n_out,
        "quarantine_rows": spark.read.parquet(qdir.tmp).count(),
        "duplicate_rows": n_valid - n_out,
        "quarantine_by_reason": dict(sorted(by_reason.items())),
        "duplicate_examples": _duplicate_examples(valid, cfg.duplicate_examples)
        if n_valid > n_out
        else (),
    }


def _duplicate_examples(valid: DataFrame, n: int) -> tuple[str, ...]:
    if n == 0:
        return ()
    rows = (
        valid.groupBy("transaction_id").count().filter("count > 1")
        .orderBy("transaction_id").limit(n).collect()
    )  # fmt: skip
    return tuple(r[0] for r in rows)


def _check_accounting(r: EtlResult) -> None:
    quarantined = sum(r.quarantine_by_reason.values())
    if (
        r.input_rows != r.output_rows + r.quarantine_rows + r.duplicate_rows
        or r.quarantine_rows != quarantined
        or r.duplicate_rows < 0
    ):
        raise DataIntegrityError(
            f"ETL row accounting does not add up for {r.input_path}: input {r.input_rows} != "
            f"output {r.output_rows} + quarantine {r.quarantine_rows} (by reason: {quarantined}) "
            f"+ duplicates {r.duplicate_rows}. Nothing was published; please report this "
            "with the input."
        )


def _log(r: EtlResult) -> None:
    logger.info(
        "ETL %s: %d rows in -> %d canonical, %d quarantined, %d duplicates dropped (%.1f s)",
        r.input_path, r.input_rows, r.output_rows, r.quarantine_rows, r.duplicate_rows, r.seconds,
    )  # fmt: skip
    for reason, n in r.quarantine_by_reason.items():
        logger.info("  quarantine reason %s: %d rows", reason, n)
