"""Where `score` takes its features from: the feature table, when it is current.

`fraud-app features` computes every row's point-in-time features from the canonical
table; the scoring job computes the same values for the rows of its dates from the
canonical rows and their history (fraud_app.scoring.history). When the feature table was
built from the canonical table AS IT IS NOW, with the definitions the specs give now, its
rows of those dates hold exactly what the job would compute (point in time: a row's
features never read a later row or a label not yet known, so the rows the table has after
`end` changed nothing), so the job reads them instead of recomputing windows over weeks
of history (a daily job that runs after `features`; `fraud-app run`, whose training has
just built the table).

Current means all of:
- `_features.json` records its input (`source`, fraud_app.features.source_state) as this
  config's canonical table, with the same data files as now: a `labels` or `etl` run
  since rewrote partitions (new file names), and then the table is stale;
- the table records, for every feature the model needs, the definition the specs give
  now (fraud_app.features.spec.table_definitions), and the same label delay;
- its own data files are the ones `features` wrote (`data_files`: a partition deleted
  from it, or a file copied in, left the canonical table as it was, and the job read the
  table's rows: a date whose files were gone was not scored, and the summary named the
  canonical table as lacking it); a table written before `data_files` was recorded is
  not read;
- the table has a column for each of them.

Anything else (no table, an unreadable `_features.json`, a `features` run replacing the
table right now) and `scoring.features: recompute`: the job computes, as before. Which
source was used, and why the table was not, is logged at INFO and put in the summary.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.footer_schema import read_parquet
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, differences
from fraud_app.etl.readers import TableReader
from fraud_app.features.source_state import source_state
from fraud_app.features.spec import FeatureSet, definitions, diff_definitions, table_definitions
from fraud_app.features.table import METADATA_NAME, read_feature_metadata
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.dates import date_literal

logger = logging.getLogger(__name__)


@dataclass
class TableRows:
    """The feature table's rows of the job's dates (df), or None with the reason (why);
    `reader`: this job's registration as a reader of the feature table, held while the
    job reads it (`close()` ends it)."""

    df: DataFrame | None
    why: str
    reader: TableReader | None = None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.__exit__(None, None, None)
            self.reader = None


def table_rows(
    spark, config, feature_set: FeatureSet, names, start, end, cache: FooterCache | None = None
) -> TableRows:
    """The feature table's rows dated start..end (inclusive) when the table is current for
    the model's feature `names` (module doc); else df None and why. Call `close()` when done
    reading (the job's finally). `cache`: the run's footers (fraud_app.etl.manifest)."""
    if config.scoring.features == "recompute":
        return TableRows(None, "scoring.features is recompute")
    path = config.feature_table()
    fs = HadoopFs(spark)
    if not fs.exists(f"{path.rstrip('/')}/{METADATA_NAME}"):
        return TableRows(None, f"no feature table at {path}")
    try:  # registered first, then checked: a `features` run cannot replace it under us
        reader = TableReader(config.paths.driver_root(), "score", "features").__enter__()
    except ConcurrentRunError as exc:
        return TableRows(None, f"the feature table is being replaced ({exc})")
    rows = TableRows(None, "", reader)
    # its schema read once, from the footers the `_files.json` check read when they give it
    table = functools.cache(lambda: read_parquet(spark, fs, path, cache))
    try:
        rows.why = _not_current(spark, fs, config, feature_set, names, cache, table)
        if not rows.why:
            day = F.col(PARTITION_COLUMN)
            rows.df = table().where(day.between(date_literal(start), date_literal(end)))
    except BaseException:
        rows.close()
        raise
    if rows.df is None:
        rows.close()
    return rows


def _not_current(spark, fs: HadoopFs, config, feature_set: FeatureSet, names, cache, table) -> str:
    """Why the feature table cannot stand in for computing `names` now ("" when it can).
    `table()`: the table read (spark.read.parquet), asked for its columns last."""
    path = config.feature_table()
    try:
        meta = read_feature_metadata(path, spark)
    except Exception as exc:  # any failure to read it: compute instead
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"its {METADATA_NAME} could not be read ({first})"
    source = meta.get("source")
    canonical = fs.qualify(config.canonical_table()).rstrip("/")
    if not isinstance(source, dict) or source.get("path") != canonical:
        return f"it records no build from the canonical table {canonical}"
    if source_state(fs, canonical)["digest"] != source.get("digest"):
        return "the canonical table was rewritten after `features` ran (an etl or labels run)"
    written = meta.get("data_files")
    if not isinstance(written, dict) or "digest" not in written:
        return (
            f"its {METADATA_NAME} records no list of its data files (written by an older fraud-app)"
        )
    own = source_state(fs, path)
    if own["digest"] != written["digest"]:
        return (
            f"its data files are not the ones `features` wrote ({written.get('files', '?')} "
            f"files then, {own['files']} now: a partition deleted, replaced or copied in)"
        )
    damaged = differences(fs, path, cache)
    if damaged:  # the same listing, but a file truncated or replaced, or _features.json edited
        return f"its files are not the ones `features` wrote: {damaged}"
    delay = meta.get("label_delay_days")
    if not isinstance(delay, int | float) or not math.isclose(
        float(delay) * 86_400, feature_set.label_delay_s, abs_tol=1e-6
    ):
        return (
            f"it was built with label_delay_days {delay!r}, the config has "
            f"{feature_set.label_delay_s / 86_400:g}"
        )
    now = definitions(feature_set, names)
    recorded = table_definitions(meta, now)
    missing = [n for n in names if n not in recorded]
    if missing:
        return f"it has no {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
    changed = diff_definitions(recorded, now)
    if changed:
        return f"the specs changed the definition of {', '.join(list(changed)[:5])} since"
    columns = set(table().columns)
    absent = [n for n in names if n not in columns]
    if absent:
        return f"its files have no column {', '.join(absent[:5])}"
    return ""
