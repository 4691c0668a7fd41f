"""Config-driven entry points (the CLI and notebooks): spec files -> feature table.

feature_set = feature_set_from_config(config.features)
result = compute_features(spark.read.parquet(canonical), feature_set)   # lazy
summary = build_feature_table(spark, config)                           # reads + writes
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

from pyspark.sql import DataFrame, SparkSession

from fraud_app.balancing.base import BalancedData
from fraud_app.balancing.registry import from_config
from fraud_app.config import AppConfig
from fraud_app.errors import EmptyInputError
from fraud_app.etl.footer_schema import read_parquet
from fraud_app.etl.fs import (
    HadoopFs,
    check_apart,
    check_working_directory,
    clean_stale_staging,
)
from fraud_app.etl.lock import RootLock
from fraud_app.etl.manifest import FooterCache
from fraud_app.etl.readers import refuse_while_read
from fraud_app.etl.table_read import read_table
from fraud_app.features.compile import compute_features, skip_ask
from fraud_app.features.config import FeaturesSection
from fraud_app.features.hot_keys import find_hot_keys, warn_hot_keys
from fraud_app.features.id_spellings import find_spellings, shown_spellings, warn_spellings
from fraud_app.features.incremental import KEY, input_digests, partition_states, plan, record
from fraud_app.features.input_checks import check_known_columns, check_numeric_types
from fraud_app.features.label_changes import carried_digests, narrow, patched_rows
from fraud_app.features.lookback import lookback_seconds
from fraud_app.features.profile import check_log1p_bounds
from fraud_app.features.source_state import source_state
from fraud_app.features.spec import FeatureSet, load_feature_set, spec_paths
from fraud_app.features.splits import SplitResult, split_by_time
from fraud_app.features.table import (
    FeatureTableSummary,
    read_feature_metadata,
    write_feature_table,
)
from fraud_app.features.table_update import (
    recompute,
    same_features,
    unchanged_summary,
    update_feature_table,
)
from fraud_app.features.value_counts import value_counts
from fraud_app.resources import shipped_spec_dir
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN
from fraud_app.spark.arguments import require_config, require_session
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.spark.session import ensure_utc
from fraud_app.timeline import table_timeline, timeline_line

logger = logging.getLogger(__name__)


def feature_set_from_config(cfg: FeaturesSection) -> FeatureSet:
    paths = spec_paths(cfg.spec_dir or shipped_spec_dir(), cfg.spec_files)
    feature_set = load_feature_set(paths, label_delay_days=cfg.label_delay_days)
    logger.info("feature specs: %d feature(s) from %d file(s) in %s", len(feature_set.features),
                len(paths), paths[0].parent)  # fmt: skip
    return feature_set


def check_feature_specs(cfg: FeaturesSection, min_amount: float | None = None) -> FeatureSet:
    """The spec files parsed and, when the features read the ETL's canonical table (no
    `features.input` of the user's own), checked against the canonical schema's column
    types and names (a column the canonical table lacks, such as a misspelt `column:`)
    and, given `min_amount` (etl.bounds.min_amount), a log1p of amount against it,
    for the commands to call before Spark starts: a typo in a spec was reported after
    the JVM had started (`features`), or after the ETL and validation (`run`). A table of
    the user's own is checked against its real schema by `compute_features`, which also
    warns about log1p inputs <= -1 in the data."""
    feature_set = feature_set_from_config(cfg)
    if cfg.input is None:
        types = {c.name: c.spark_type for c in CANONICAL_COLUMNS}
        columns = [*types, PARTITION_COLUMN]  # the table's columns: event_date too
        check_known_columns(feature_set.features, feature_set.sources, columns)
        check_numeric_types(feature_set.features, types)
        if min_amount is not None:
            check_log1p_bounds(feature_set.features, min_amount)
    return feature_set


@classic_only("build_feature_table", FILE_SYSTEM)
def build_feature_table(
    spark: SparkSession, config: AppConfig, feature_set: FeatureSet | None = None
) -> FeatureTableSummary:
    """Read the canonical table, compute every spec'd feature, write the feature table
    (in a UTC session: the windows and the split dates are UTC). `feature_set`: the specs
    of `config.features` already parsed (what `check_feature_specs` returned before Spark
    started: the commands parse the files once); None: read here.

    Holds the lock of `paths.root`, as `etl` and `labels` do (ConcurrentRunError when
    another run holds it), and first clears what a killed `features` left beside the table
    (`clean_stale_staging`): without either, a killed run's `<table>.tmp-*` (a whole
    feature table) stayed on disk for good, a kill between the commit's two renames left
    no table (only `<table>.old-*`), and two runs at once (a scheduler's overlapping
    runs, or one beside `etl` replacing the canonical table) committed into each other."""
    require_session(spark, "build_feature_table")
    require_config(config, "build_feature_table")
    ensure_utc(spark)
    check_working_directory(spark, config.paths.root)
    with RootLock(config.paths.driver_root(), "features"):
        refuse_while_read(config.paths.driver_root(), "features", "features")
        return _build_locked(spark, config, feature_set)


def _build_locked(
    spark: SparkSession, config: AppConfig, feature_set: FeatureSet | None
) -> FeatureTableSummary:
    cfg = config.features
    source, target = config.canonical_table(), config.feature_table()
    if feature_set is None:  # the Python API: the checks the commands run before Spark
        feature_set = check_feature_specs(cfg)
    check_apart(spark, {"features.input": source}, {"features.output": target})
    clean_stale_staging(HadoopFs(spark), target)
    df = read_table(spark, source, "canonical table", "etl")
    if not df.columns:
        raise EmptyInputError(f"canonical table {source} holds no columns")
    # under the root lock: no etl or labels run rewrites it before the table is written
    state = source_state(HadoopFs(spark), source)
    now = _record(spark, df, feature_set, config)  # its digests: after the value counts
    footers = FooterCache()  # the plan's `_files.json` check's, for the kept dates' rows
    how = _plan(spark, config, now, footers)
    hashed, carried = carried_digests(how, now["partitions"])  # the dates whose files changed
    # one pass for the checks and for what the compiler's skips count (its profile)
    ask = skip_ask(df, feature_set)
    with value_counts(df, feature_set.features, hashed, ask) as counts:
        hot = find_hot_keys(counts, feature_set.features)  # named before the windows run
        warn_hot_keys(hot)
        spellings = find_spellings(counts)
        warn_spellings(spellings)
        timeline = _timeline(counts.days, feature_set, config)
        now["digests"] = dict(sorted({**carried, **counts.digests}.items()))
    inputs = (state, timeline, now, counts.profile)
    summary, build = _build(spark, df, feature_set, config, inputs, how, footers)
    summary = replace(summary, extra={**summary.extra, "build": build})
    if summary.rows == 0:
        raise EmptyInputError(f"canonical table {source} holds no rows")
    # card ids masked (to_dict, shown_spellings): the summary is printed and logged
    checks = {"hot_keys": [h.to_dict() for h in hot], "id_spellings": shown_spellings(spellings)}
    if hot or spellings:
        summary = replace(
            summary, extra={**summary.extra, **{k: v for k, v in checks.items() if v}}
        )
    return summary


def _plan(spark: SparkSession, config: AppConfig, now: dict, footers: FooterCache | None = None):
    """fraud_app.features.incremental.plan of the feature table for the input `now`."""
    cfg, source, target = config.features, config.canonical_table(), config.feature_table()
    forced = None if cfg.incremental else "asked for (features.incremental: false, or --full)"
    return plan(HadoopFs(spark), target, source, now, forced=forced,
                read_metadata=lambda t: read_feature_metadata(t, spark), footers=footers)  # fmt: skip


def _build(
    spark: SparkSession, df: DataFrame, feature_set: FeatureSet, config: AppConfig, inputs: tuple,
    how, footers: FooterCache | None = None,
) -> tuple[FeatureTableSummary, dict]:  # fmt: skip
    """The incremental build when the plan `how` allows it, else the full one (one INFO line
    saying why); (the summary, its `build` entry). inputs: (source state, timeline, record,
    the data profile of `df`)."""
    state, timeline, now, profile = inputs
    target = config.feature_table()
    summary = None
    if not how.full and not how.changed:
        summary = unchanged_summary(target, how.previous, timeline)
    elif not how.full:
        # the table read once for the label comparison and the patch (a schema job each;
        # none when the plan's `_files.json` check read every footer: footer_schema)
        table = functools.cache(lambda: read_parquet(spark, HadoopFs(spark), target, footers))
        how = narrow(df, how, now, feature_set.label_delay_s, table)
        summary = _update(spark, df, feature_set, config, how, inputs, table, footers)
        if isinstance(summary, str):
            how, summary = replace(how, full=True, reason=summary), None
    if summary is not None:
        return summary, {"mode": "incremental", "from": how.start and how.start.isoformat(),
                         "changed_dates": list(how.changed), "removed_dates": list(how.gone),
                         **({"labels_only": list(how.patched)} if how.patched else {})}  # fmt: skip
    logger.info("features: full build of %s: %s", target, how.reason)
    result = compute_features(
        df, feature_set, vector_column=config.features.vector_column, profile=profile
    )
    summary = write_feature_table(
        spark, result, feature_set, target, source=state, timeline=timeline, incremental=now
    )
    return summary, {"mode": "full", "reason": how.reason}


def _record(spark: SparkSession, df: DataFrame, feature_set: FeatureSet, config: AppConfig):
    """fraud_app.features.incremental.record of the canonical table `df` as it is now, its
    `digests` empty (the caller sets them from the value counts' pass, which the plan of
    this record chooses the dates of)."""
    inputs = input_digests(
        feature_set,
        vector_column=config.features.vector_column,
        schema=df.schema.json(),
        time_zone=spark.conf.get("spark.sql.session.timeZone"),
        day_volume_ratio=config.validation.canonical.min_day_volume_ratio,
    )
    return record(inputs, partition_states(HadoopFs(spark), config.canonical_table()), {})


def _update(spark, df, feature_set, config, how, inputs, table, footers=None):
    """The incremental build (fraud_app.features.table_update); the reason for a full one
    instead (a str) when the features computed would differ from the table's."""
    state, timeline, now, profile = inputs
    changed = ", ".join(how.changed[:6]) + (", ..." if len(how.changed) > 6 else "")
    patched = f" and rewriting {len(how.patched)} earlier date(s)' labels" if how.patched else ""
    logger.info(
        "features: incremental build of %s: %d canonical date(s) changed, appeared or went "
        "since it was built (%s): recomputing the dates from %s%s: %s",
        config.feature_table(), len(how.changed), changed, how.start or "(none)", patched,
        how.why,
    )  # fmt: skip
    result = recompute(df, feature_set, how, config.features.vector_column, profile)
    differ = same_features(result, how.previous)
    if differ:
        return differ
    extra = {"source": state, **({"timeline": timeline} if timeline is not None else {})}
    target = config.feature_table()
    patch = patched_rows(df, table, how.patched) if how.patched else None
    return update_feature_table(
        spark, result, feature_set, target, how, {**extra, KEY: now}, patch, footers
    )


def _timeline(days: dict, feature_set: FeatureSet, config: AppConfig) -> dict | None:
    """The canonical table's timeline as its window features see it (fraud_app.timeline):
    one WARNING naming its incomplete dates (an outage, a partial delivery): the features
    of the days after them undercount, which no step said."""
    timeline = table_timeline(
        days,
        lookback_seconds(feature_set, encodings=False),
        config.validation.canonical.min_day_volume_ratio,
    )
    line = timeline_line(timeline) if timeline else None
    if line:
        logger.warning("features: %s", line)
    return timeline


def split_and_balance(features: DataFrame, config: AppConfig) -> tuple[SplitResult, BalancedData]:
    """Time splits of a feature table, then the configured balancing of its train split.

    The notebook / trainer entry point: `features` is the table written by
    build_feature_table (spark.read.parquet(paths.features)).
    """
    split = split_by_time(
        features, config.splits, label_delay_days=config.features.label_delay_days
    )
    return split, from_config(config.balancing).balance(split.train)
