"""The write step of an ETL run (fraud_app.etl.pipeline.run_etl): classify the staged
rows (fraud_app.etl.dedup; in append mode against the published rows sharing their ids),
re-apply the label ledger in a replace run (fraud_app.etl.ledger), hand the new canonical
rows and the quarantine rows to the publish (fraud_app.etl.publish), which stages them,
and count what was staged.

Owns the classification's use and the counts; does not own reading, parsing, the rules,
the staging of the input, the row accounting, the commit or the lock (run_etl).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.card_masking import mask_pans
from fraud_app.errors import DataIntegrityError
from fraud_app.etl import dedup
from fraud_app.etl import ledger as label_ledger
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.config import EtlSection
from fraud_app.etl.delivery_checks import DeliveryChecks, check_append
from fraud_app.etl.publish import ReplacePublish
from fraud_app.etl.quarantine_counts import WrittenQuarantine
from fraud_app.etl.rules import DETAIL, REASON

# a step of run_etl: its log lines keep the run's logger name (filters and tests use it)
logger = logging.getLogger("fraud_app.etl.pipeline")

CANONICAL_NAMES = dedup.CANONICAL_NAMES
RAW_PREFIX = "raw_"  # quarantine: input column `x` is stored as `raw_x`
SOURCE_FILE = "source_file"
# the staged input: each input column's text as `__raw_<i>`, the file name as `__file`
STAGED_RAW, STAGED_FILE = "__raw_", "__file"
# the staged rows' key: the classification carries it instead of the raw strings and the
# file name, which only the conflicting versions' quarantine rows need (joined back by it)
ROW_KEY = "__row"
# at most this many conflicting versions are broadcast to the stage's scan that joins their
# raw values back; more (a delivery of mostly conflicting copies) take a shuffled join
BROADCAST_CONFLICTS = 100_000


def quarantine_rows(annotated: DataFrame, raw_columns: list[str]) -> DataFrame:
    """The rows with a reason: every original column as `raw_<name>` + reason, detail, file."""
    return annotated.filter(F.col(REASON).isNotNull()).select(
        *[F.col(f"{STAGED_RAW}{i}").alias(f"{RAW_PREFIX}{c}") for i, c in enumerate(raw_columns)],
        REASON,
        DETAIL,
        F.col(STAGED_FILE).alias(SOURCE_FILE),
    )


def deduplicate(
    annotated: DataFrame, policy: str = "keep_earliest", previous: DataFrame | None = None
) -> DataFrame:
    """The clean rows' canonical columns (and ROW_KEY, when staged with one) with
    dedup.CLASS (KEEP / EXACT / CONFLICT) and, for CONFLICT rows, reason
    `conflicting_duplicate` (fraud_app.etl.dedup says which version wins).
    `previous`: the published canonical rows (etl.mode: append), kept as KEEP rows.

    The raw strings and the file name are left out: the classification shuffles, joins
    and caches every clean row, and only its few conflicting versions need them (joined
    back from the stage by ROW_KEY, `_with_conflicts`)."""
    key = [ROW_KEY] if ROW_KEY in annotated.columns else []
    clean = annotated.filter(F.col(REASON).isNull()).select(*CANONICAL_NAMES, *key)
    return dedup.classify(clean, policy, previous)


@dataclass(frozen=True)
class _NewRows:
    """What the classification adds to the table: the new KEEP rows, the ids whose
    published unlabelled row they fill, the counts of fills, of new rows without a label,
    of conflicting versions (quarantined) and of exact duplicates (dropped), and the dates
    of the new rows, all from one aggregation over the classified rows."""

    kept: DataFrame
    fills: DataFrame
    filled: int
    unlabelled: int
    conflicts: int
    exact: int
    # the dates of the kept rows, and of those of them that fill no published row (the
    # publish's and the delivery checks' own distinct-date jobs before session 41)
    dates: list[str]
    added_dates: list[str]


@dataclass(frozen=True)
class _Duplicates:
    """The identical copies dropped, and a few ids of them and of the conflicting ones."""

    rows: int
    examples: tuple[str, ...]
    conflict_examples: tuple[str, ...]


@dataclass(frozen=True)
class _Reapplied:
    """The label ledger a replace run re-applied: its entries, their outcomes (persisted
    until the quarantined ones are staged) and the entries per outcome."""

    ledger: DataFrame
    outcomes: DataFrame
    counts: dict[str, int]


def write_outputs(
    stage: DataFrame, raw_columns: list[str], publish: ReplacePublish | AppendPublish,
    cfg: EtlSection, ledger: DataFrame | None = None, label_delay_s: int = 0,
) -> dict:  # fmt: skip
    """Classify the clean rows (in append mode against the published rows that share
    their ids), hand the new canonical rows and this run's quarantine rows to `publish`
    (fraud_app.etl.publish), which stages them; return the counts. `ledger`: the label
    ledger of the table a replace run rebuilds, re-applied to its rows (the corrections
    against the rows' known times, `label_delay_s` without label_time) and carried over."""
    schema = stage.select(*CANONICAL_NAMES).schema
    previous = publish.published(stage.filter(F.col(REASON).isNull()), schema)
    classified = deduplicate(stage, cfg.conflicting_duplicates, previous)
    classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = _new_rows(classified)
        conflicts = classified.filter(F.col(dedup.CLASS) == dedup.CONFLICT)
        rejected = _with_conflicts(stage, conflicts, rows.conflicts)
        quarantined = quarantine_rows(rejected, raw_columns)
        checks = _delivery_checks(classified, publish, schema, cfg, rows.added_dates)
        kept, reapplied = _reapply_ledger(rows.kept, ledger, label_delay_s, cfg.label_corrections)
        fills = rows.fills if rows.filled else None
        # a replace run's ledger changes no timestamp; its publish takes no dates anyway
        n_out, written = publish.write(kept, quarantined, schema, fills, rows.dates)
        dups = _duplicates(classified, conflicts, cfg.duplicate_examples, rows)
    finally:
        classified.unpersist()
    by_reason, examples = _by_reason(written)
    if reapplied is not None:  # after the counts: the entries are no input records
        _keep_ledger(publish, reapplied, raw_columns, cfg)
    kept_from_feeds = publish.keep_fed_quarantine()  # after the counts, as the ledger's
    if n_out == 0:
        _warn_empty(by_reason, examples)
    ledger_fields = _ledger_fields(reapplied.counts if reapplied is not None else {})
    return {
        "output_rows": n_out, "previous_rows": publish.previous_rows,
        "quarantine_rows": sum(by_reason.values()), "duplicate_rows": dups.rows,
        "quarantine_by_reason": dict(sorted(by_reason.items(), key=lambda kv: str(kv[0]))),
        "duplicate_examples": dups.examples, "conflict_examples": dups.conflict_examples,
        "quarantine_examples": examples,
        "unlabelled_rows": rows.unlabelled - ledger_fields["labels_reapplied"],
        "labels_filled": rows.filled, **ledger_fields,
        "label_feed_quarantine_kept": kept_from_feeds, **asdict(checks),
    }  # fmt: skip


def _is_new() -> Column:
    """A classified row this run adds: kept, and not a published row."""
    return (F.col(dedup.CLASS) == dedup.KEEP) & ~F.col(dedup.PUBLISHED)


def _new_rows(classified: DataFrame) -> _NewRows:
    new = _is_new()
    day = F.to_date("timestamp").cast("string")  # a published row's timestamp is not null
    n_filled, n_unlabelled, n_conflicts, n_exact, dates, added_dates = classified.agg(
        F.count(F.when(new & F.col(dedup.FILLS), 1)),
        F.count(F.when(new & F.col("label").isNull(), 1)),
        F.count(F.when(F.col(dedup.CLASS) == dedup.CONFLICT, 1)),
        F.count(F.when(F.col(dedup.CLASS) == dedup.EXACT, 1)),  # _duplicates's count
        F.collect_set(F.when(new, day)),  # AppendPublish.write's dates
        F.collect_set(F.when(new & ~F.col(dedup.FILLS), day)),  # check_append's
    ).first()
    return _NewRows(
        kept=classified.filter(new).select(*CANONICAL_NAMES),
        fills=classified.filter(new & F.col(dedup.FILLS)).select("transaction_id"),
        filled=n_filled, unlabelled=n_unlabelled, conflicts=n_conflicts, exact=n_exact,
        dates=sorted(dates), added_dates=sorted(added_dates),
    )  # fmt: skip


def _delivery_checks(
    classified: DataFrame, publish: ReplacePublish | AppendPublish, schema, cfg: EtlSection,
    dates: list[str],
) -> DeliveryChecks:  # fmt: skip
    """An append's checks of what the dedup by id cannot see (fraud_app.etl.delivery_checks);
    none in replace mode."""
    if not isinstance(publish, AppendPublish):
        return DeliveryChecks()
    added = classified.filter(_is_new() & ~F.col(dedup.FILLS)).select(*CANONICAL_NAMES)
    return check_append(
        added, lambda dates: publish.rows_of_dates(schema, dates),
        publish.present_dates(), cfg.duplicate_examples, dates,
    )  # fmt: skip


def _reapply_ledger(
    kept: DataFrame, ledger: DataFrame | None, label_delay_s: int, corrections: str
) -> tuple[DataFrame, _Reapplied | None]:  # fmt: skip
    """`kept` with the label ledger re-applied (fraud_app.etl.ledger), checked to give each
    of its transactions one outcome; `kept` as it is without a ledger."""
    if ledger is None:
        return kept, None
    outcomes = label_ledger.classify(kept, ledger, label_delay_s, corrections)
    outcomes = outcomes.persist(StorageLevel.MEMORY_AND_DISK)
    counts = label_ledger.counts(outcomes)
    _check_ledger(ledger, counts)
    kept = label_ledger.apply_entries(kept, outcomes, label_delay_s, counts)
    return kept, _Reapplied(ledger, outcomes, counts)


def _duplicates(classified: DataFrame, conflicts: DataFrame, n: int, rows: _NewRows) -> _Duplicates:
    """The exact duplicates and the conflicts are counted with the other classes
    (_new_rows): no job looks for examples of a class without rows (session 41: the
    conflicts' examples were looked for on every run, one job)."""
    exact = classified.filter(F.col(dedup.CLASS) == dedup.EXACT)
    return _Duplicates(
        rows=rows.exact, examples=_examples(exact, n) if rows.exact else (),
        conflict_examples=_examples(conflicts, n) if rows.conflicts else (),
    )  # fmt: skip


def _keep_ledger(
    publish: ReplacePublish | AppendPublish, reapplied: _Reapplied, raw_columns: list[str],
    cfg: EtlSection,
) -> None:  # fmt: skip
    """Carry the ledger into the rebuilt table, its quarantined entries into the quarantine
    under etl.input's raw column names."""
    names = {c: f"{RAW_PREFIX}{cfg.source_for(c)}" for c in label_ledger.LEDGER_COLUMNS[:3]
             if cfg.source_for(c) in raw_columns}  # fmt: skip
    publish.keep_ledger(reapplied.ledger, label_ledger.quarantine_rows(reapplied.outcomes, names))
    reapplied.outcomes.unpersist()


def _ledger_fields(counts: dict[str, int]) -> dict:
    """The EtlResult fields of the ledger's outcomes (none without a ledger)."""
    return {
        "labels_reapplied": counts.get(label_ledger.FILL, 0),
        "corrections_reapplied": counts.get(label_ledger.CORRECTED, 0),
        "ledger_quarantined": {k: counts[k] for k in label_ledger.QUARANTINED if counts.get(k)},
        "ledger_not_found": counts.get(label_ledger.NOT_FOUND, 0),
    }


def _by_reason(written: WrittenQuarantine) -> tuple[dict, dict[str, str]]:
    """The staged quarantine rows per reason, and a detail of each (the first in text order)
    with its card numbers masked (fraud_app.card_masking): the examples are printed, logged
    and kept in `_etl_report.json`; the quarantine table keeps the detail whole. Observed
    as the file was written (fraud_app.etl.quarantine_counts; a group-by was 2 Spark jobs)."""
    counted, firsts = written.by_reason()
    examples = {str(k): _shown(firsts[k]) for k in sorted(counted, key=str)}
    return counted, examples


def _shown(detail: str | None) -> str | None:
    return None if detail is None else mask_pans(detail)


def _warn_empty(by_reason: dict, examples: dict[str, str]) -> None:
    top = max(by_reason, key=lambda k: by_reason[k], default=None)
    said = f" (most: {top}, e.g. {examples[str(top)]})" if top is not None else ""
    logger.warning("ETL: no row reached the canonical table; it is empty%s", said)


def _check_ledger(ledger: DataFrame, counts: dict[str, int]) -> None:
    """Each transaction of the ledger has exactly one outcome (its latest version's)."""
    ids = ledger.select("transaction_id").distinct().count()
    if sum(counts.values()) != ids:
        raise DataIntegrityError(
            f"ETL: the label ledger holds {ids} transaction(s), but their re-applied outcomes "
            f"add up to {sum(counts.values())} ({counts}); expected one each. Nothing was "
            "published; please report this with the ledger"
        )


def _with_conflicts(stage: DataFrame, conflicts: DataFrame, n_conflicts: int) -> DataFrame:
    """The staged rows a rule rejected and those the classification found conflicting
    (`conflicts`: their ROW_KEY, reason and detail), in the stage's columns: one scan of
    the stage, the conflicts' raw strings and file name joined back by ROW_KEY. Without
    conflicts (the classes counted none) nothing is joined: the join broadcast the empty
    conflicts, a Spark job of its own on every run (session 43)."""
    if n_conflicts == 0:
        return stage.filter(F.col(REASON).isNotNull())
    c_key, c_reason, c_detail = "__c_row", "__c_reason", "__c_detail"
    found = conflicts.select(
        F.col(ROW_KEY).alias(c_key), F.col(REASON).alias(c_reason), F.col(DETAIL).alias(c_detail)
    )
    if n_conflicts <= BROADCAST_CONFLICTS:
        found = F.broadcast(found)
    joined = stage.join(found, F.col(ROW_KEY) == F.col(c_key), "left")
    return (
        joined.filter(F.col(REASON).isNotNull() | F.col(c_key).isNotNull())
        .withColumns(
            {
                REASON: F.coalesce(F.col(REASON), F.col(c_reason)),
                DETAIL: F.coalesce(F.col(DETAIL), F.col(c_detail)),
            }
        )
        .drop(c_key, c_reason, c_detail)
    )


def _examples(rows: DataFrame, n: int) -> tuple[str, ...]:
    if n == 0:
        return ()
    ids = rows.select("transaction_id").distinct().orderBy("transaction_id").limit(n).collect()
    return tuple(r[0] for r in ids)
