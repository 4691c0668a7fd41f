"""Reading and writing the feature table and its metadata file.

The table is Parquet partitioned by event_date, written to a staged directory and
swapped into place (fraud_app.etl.fs.StagedDir), with `_features.json` inside it
(Spark and pyarrow skip `_` files): the ordered feature names of the `features`
vector, the label/weight/id columns the trainer should use, the skipped features,
every feature's definition, the state of its input (`source`) and of its own data files
(`data_files`: their count and a digest of their relative paths, which the batch scorer
compares before it reads the table's rows). The trainer reads the names from there
rather than guessing from column order.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.errors import SchemaError
from fraud_app.etl.fs import HadoopFs, StagedDir
from fraud_app.etl.manifest import FooterCache, footer_metadata, footer_rows, footers_bytes
from fraud_app.etl.manifest import record as record_files
from fraud_app.etl.table_read import read_table
from fraud_app.features.compile import FeatureResult
from fraud_app.features.source_state import source_state, warn_if_stale
from fraud_app.features.spec import FeatureSet
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

METADATA_NAME = "_features.json"
METADATA_VERSION = 1


@dataclass(frozen=True)
class FeatureTableSummary:
    output_path: str
    metadata_path: str
    rows: int
    feature_names: tuple[str, ...]
    skipped: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def labelled_rows(df: DataFrame, step: str, unlabelled: int | None = None) -> DataFrame:
    """The rows whose label is known (label not null). A null label is not known yet
    (etl.allow_unlabelled: a transaction scored before its fraud was confirmed): such rows
    are left out of `step` and counted in the log, never read as normals (0). A table
    without a label column is returned as it is: the step's own check names it.
    `unlabelled`: their number when known (`label_nulls`), else counted with Spark."""
    if "label" not in df.columns:
        return df
    if unlabelled is None:
        unlabelled = df.filter(F.col("label").isNull()).count()
    if unlabelled:
        logger.info(
            "%s: %d rows of the feature table have no label yet (label null) and are left "
            "out", step, unlabelled,
        )  # fmt: skip
    return df.filter(F.col("label").isNotNull())


def feature_metadata(result: FeatureResult, feature_set: FeatureSet) -> dict[str, Any]:
    computed = set(result.feature_names)
    return {
        "version": METADATA_VERSION,
        "feature_names": list(result.feature_names),
        "vector_column": result.vector_column,
        "label_column": "label",
        "weight_column": None,
        "id_column": "transaction_id",
        "timestamp_column": "timestamp",
        "partition_column": PARTITION_COLUMN,
        "label_delay_days": result.label_delay_s / 86_400,
        "skipped": [s.to_dict() for s in result.skipped],
        "features": [
            {"name": f.name, "kind": f.kind, "fill": f.fill, **f.model_dump()}
            for f in feature_set.features
            if f.name in computed
        ],
    }


def write_feature_table(
    spark: SparkSession, result: FeatureResult, feature_set: FeatureSet, path: str,
    source: dict[str, Any] | None = None, timeline: dict[str, Any] | None = None,
    incremental: dict[str, Any] | None = None,
) -> FeatureTableSummary:  # fmt: skip
    """Write `result.df` to `path` (replacing it) with `_features.json`; count the rows.
    `source`: the state of the input table read (fraud_app.features.source_state), which
    the readers compare with it as it is then. `timeline`: fraud_app.timeline.table_timeline
    (its incomplete dates and warm-up; `train` reads it). `incremental`: the per-date state
    of the input that the next run compares (fraud_app.features.incremental.record)."""
    started = time.monotonic()
    fs = HadoopFs(spark)
    staged = StagedDir(fs, str(path))
    try:
        _time_ordered(result.df).write.mode("error").partitionBy(PARTITION_COLUMN).parquet(
            staged.tmp
        )
        footers = FooterCache()  # the row count's footers, read again for `_files.json`
        rows = written_rows(spark, fs, staged.tmp, footers)
        meta = {**feature_metadata(result, feature_set), "rows": rows}
        if source is not None:
            meta["source"] = source
        if timeline is not None:
            meta["timeline"] = timeline
        # its own data files (relative paths: the same after the swap), so that a reader can
        # tell the table `features` wrote from one a partition was deleted from or copied into
        own = source_state(fs, staged.tmp)
        meta["data_files"] = {"files": own["files"], "digest": own["digest"]}
        if incremental is not None:
            meta["incremental"] = incremental
        fs.write_text(f"{staged.tmp}/{METADATA_NAME}", jsonout.dumps(meta, indent=2))
        # each file's size and the metadata's sha256, which every reader checks (read_table)
        record_files(fs, staged.tmp, (METADATA_NAME,), footers)
    except BaseException:
        staged.discard()
        raise
    staged.commit()
    summary = FeatureTableSummary(
        output_path=staged.final,
        metadata_path=f"{staged.final}/{METADATA_NAME}",
        rows=rows,
        feature_names=result.feature_names,
        skipped=tuple(s.to_dict() for s in result.skipped),
        seconds=round(time.monotonic() - started, 3),
        extra={"timeline": timeline} if timeline is not None else {},
    )
    logger.info(
        "feature table %s: %d rows, %d features (%d skipped), %.1f s",
        summary.output_path, rows, len(result.feature_names), len(result.skipped), summary.seconds,
    )  # fmt: skip
    return summary


def written_rows(
    spark: SparkSession, fs: HadoopFs, folder: str, footers: FooterCache | None = None
) -> int:
    """The rows of the Parquet files just written under `folder`: from their footers (no
    Spark job; a read-back count was three), with Spark when a footer does not parse.
    `footers`: the run's footer reads (what `_files.json` then records reads them there)."""
    rows = footer_rows(fs, folder, cache=footers)
    return spark.read.parquet(folder).count() if rows is None else rows


def _time_ordered(df: DataFrame) -> DataFrame:
    # One task per date and rows in time order: few files, and time splits read few of them.
    return (
        df.repartition(PARTITION_COLUMN).sortWithinPartitions(
            PARTITION_COLUMN, F.col("timestamp"), F.col("transaction_id")
        )
        if "transaction_id" in df.columns
        else df.repartition(PARTITION_COLUMN)
    )


def read_feature_metadata(path: str, spark: SparkSession | None = None) -> dict[str, Any]:
    """The `_features.json` of a feature table (local path, or any Hadoop path with spark).

    A missing table or file, or one that is not the JSON object `fraud-app features` writes
    (with its `feature_names`), is a SchemaError naming the table (a notebook got a bare
    FileNotFoundError / JSONDecodeError naming only the file)."""
    meta_path = f"{str(path).rstrip('/')}/{METADATA_NAME}"
    fs = HadoopFs(spark) if spark is not None else None
    exists = fs.exists if fs is not None else (lambda p: Path(p).exists())
    if not exists(meta_path):  # checked first: a missing file is a Py4J error otherwise
        if not exists(str(path)):
            raise SchemaError(
                f"feature table {path} does not exist; run `fraud-app features` first"
            )
        raise SchemaError(
            f"feature table {path} has no {METADATA_NAME} (the ordered feature names): it was "
            "not written by `fraud-app features`; run it, or point features.output at its table"
        )
    try:
        meta = (
            fs.read_json(meta_path)
            if fs is not None
            else json.loads(Path(meta_path).read_text(encoding="utf-8"))
        )
        names = meta["feature_names"]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise SchemaError(
            f"{meta_path} is not a feature-table metadata file ({type(exc).__name__}: {exc}); "
            "run `fraud-app features` again to rewrite it"
        ) from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchemaError(
            f"{meta_path}: feature_names must be a list of names; run `fraud-app features` again"
        )
    return meta


def label_nulls(spark: SparkSession, path: str, cache: FooterCache | None = None) -> int | None:
    """The rows of the table at `path` whose `label` is null, summed from its data files'
    Parquet footers (each row group's null count: no Spark job, where a filtered count was
    two); None when a footer does not parse or holds no null count of a `label` column.
    `cache`: the footers read_table's check already read."""
    fs = HadoopFs(spark)
    root = fs.qualify(path).rstrip("/")
    nulls = 0
    for footer in footers_bytes(fs, fs.list_sizes(root), local_path(root) is not None, cache):
        meta = footer_metadata(footer)
        if meta is None:
            return None
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            columns = [group.column(c) for c in range(group.num_columns)]
            stats = [c.statistics for c in columns if c.path_in_schema == "label"]
            if len(stats) != 1 or stats[0] is None or not stats[0].has_null_count:
                return None
            nulls += int(stats[0].null_count)
    return nulls


def read_labelled(
    spark: SparkSession, path: str, source: str | None, step: str, *, filtered: bool = True
) -> tuple[DataFrame, list[str]]:
    """read_feature_table's (table, names), its rows with a known label only
    (`labelled_rows`; the unlabelled counted from the footers its check read).
    filtered=False: every row (the unlabelled logged all the same), for a caller that
    leaves them out itself and counts them per window (fraud_app.features.splits)."""
    cache = FooterCache()
    df, names = read_feature_table(spark, path, source, cache)
    unlabelled = label_nulls(spark, path, cache) if "label" in df.columns else None
    labelled = labelled_rows(df, step, unlabelled)
    return (labelled if filtered else df), names


def read_feature_table(
    spark: SparkSession, path: str, source: str | None = None, footers: FooterCache | None = None
) -> tuple[DataFrame, list[str]]:
    """(the feature table at `path`, its ordered feature names) for the steps that read it
    (train, backtest, tune, evaluate). A missing or empty table is fraud_app.etl.table_read.read_table's
    EmptyInputError; a table without a readable `_features.json` is a SchemaError naming it.
    `source`: the canonical table it is computed from (the config's), which judges a table
    of an older release that does not record its input (source_state.warn_if_stale).
    `footers`: the run's FooterCache, when it reads them again."""
    df = read_table(spark, path, "feature table", "features", footers=footers)
    metadata = read_feature_metadata(path, spark)
    warn_if_stale(HadoopFs(spark), path, metadata, source)
    return df, list(metadata["feature_names"])
