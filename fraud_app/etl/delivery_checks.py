"""What an `etl.mode: append` delivery does that the dedup by transaction_id cannot see.

Two cases publish rows as the delivery says, with a WARNING and counts in the report,
because neither can be told from a legitimate delivery by the rows alone:

- re-keyed copies: an added row equal to a published row (or to another added row) in
  card_id, merchant_id, timestamp and amount under another transaction_id. A re-delivered
  day whose export gave its transactions new ids publishes them a second time; a double
  charge (the same card charged twice by a merchant in the same second) looks the same.
- backfilled dates: rows dated on or before the newest date the table held (late rows:
  a switch outage or a batch acquirer puts rows of day D into the delivery of D+1 or
  D+3). A date already scored does not get their scores by itself (`fraud-app score`
  names such dates: fraud_app.scoring.late_rows), and at the next `fraud-app features`
  the windows of every later transaction take them in, so the features (and any score
  already written) of those later rows change. Until session 36 the newest date itself
  was left out: rows of yesterday in today's delivery, the usual late arrival, were
  added without a word.

A fourth is schema drift upstream (fraud_app.etl.column_drift, against the RECENT_DATES
newest published dates): optional columns whose values the delivery lost (dropped,
renamed or emptied upstream) and code columns whose values are mostly new (another
spelling).

A delivery whose records are mostly quarantined (MOSTLY_QUARANTINED) is named too: in an
append the table keeps its rows, so nothing else said that a whole day was rejected
(an export whose amount or timestamp format changed).

A third says what the rows alone cannot: skipped dates, the dates between the newest
date the table held and this delivery's first date after it, which no delivery brought
(a missed day, an outage): the window features of the days after them undercount.

Owns these measures; does not own the dedup (fraud_app.etl.dedup) or the writing
(fraud_app.etl.publish).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.card_masking import mask_card_id
from fraud_app.etl.column_drift import column_drift, log_column_drift, pct

logger = logging.getLogger(__name__)

MATCH_COLUMNS = ("card_id", "merchant_id", "timestamp", "amount")
_NEW, _ROWS = "__added", "__rows"
RECENT_DATES = 7  # the newest published dates the column checks compare a delivery with
MOSTLY_QUARANTINED = 0.5  # a WARNING when at least this share of the records is quarantined


@dataclass(frozen=True)
class DeliveryChecks:
    rekeyed_copies: int = 0  # added rows in a group of equal MATCH_COLUMNS, other ids
    rekeyed_examples: tuple[str, ...] = ()  # "T9 (added) = T1 (published): card ..., ..."
    backfilled_dates: tuple[str, ...] = ()  # dates added on or before the newest published one
    skipped_dates: str | None = None  # "first..last": dates between the newest published
    skipped_days: int = 0  # and this delivery's first later date that no delivery holds
    # column -> {"added_share", "published_share", "published_dates"}: optional columns
    # holding values in less than half the share of the newest published dates' rows
    emptied_columns: dict[str, dict] = field(default_factory=dict)
    # column -> {"added_share", "added_values", "published_values", "published_dates"}: code
    # columns (mcc, channel, country, card_country) whose values in most added rows the
    # newest published dates never held (a spelling changed upstream: DE -> de)
    unseen_values: dict[str, dict] = field(default_factory=dict)


def check_append(
    added: DataFrame,
    published_of: Callable[[list[str]], DataFrame],
    present: set[str],
    n_examples: int,
    dates: list[str] | None = None,
) -> DeliveryChecks:
    """`added`: the rows this append adds under ids the table lacks (canonical columns);
    `published_of(dates)`: the published rows of those dates; `present`: the dates the
    table held before this run; `dates`: those of `added`, sorted, when the caller knows
    them (fraud_app.etl.outputs counts them with the classes: no job of their own)."""
    if dates is None:
        day = F.to_date("timestamp").cast("string")
        dates = sorted(r[0] for r in added.select(day).distinct().collect())
    newest = max(present, default=None)
    backfilled = tuple(d for d in dates if newest is not None and d <= newest)
    old_dates = [d for d in dates if d in present]
    published = published_of(old_dates) if old_dates else None
    count, examples = rekeyed_copies(added, published, n_examples)
    recent = sorted(present)[-RECENT_DATES:]
    emptied, unseen = column_drift(added, published_of(recent), recent) if recent else ({}, {})
    later = [d for d in dates if newest is not None and d > newest]
    skipped, days = None, 0
    if later:
        after, until = (dt.date.fromisoformat(d) for d in (newest, later[0]))
        days = (until - after).days - 1
        one = dt.timedelta(days=1)
        skipped = f"{after + one}..{until - one}" if days > 0 else None
    return DeliveryChecks(count, examples, backfilled, skipped, max(days, 0), emptied, unseen)


def rekeyed_copies(
    added: DataFrame, published: DataFrame | None, n_examples: int
) -> tuple[int, tuple[str, ...]]:
    """(added rows sharing MATCH_COLUMNS with another row under another id, examples)."""
    cols = [*MATCH_COLUMNS, "transaction_id"]
    rows = added.select(*cols, F.lit(True).alias(_NEW))
    if published is not None:
        rows = rows.unionByName(published.select(*cols, F.lit(False).alias(_NEW)))
    groups = (
        rows.groupBy(*MATCH_COLUMNS)
        .agg(
            F.countDistinct("transaction_id").alias("ids"),
            F.count(F.when(F.col(_NEW), 1)).alias("added"),
            F.sort_array(F.collect_list(F.struct(_NEW, "transaction_id"))).alias("rows"),
        )
        .where((F.col("ids") > 1) & (F.col("added") > 0))
    )
    # not persisted: a delivery without rekeyed copies (the usual one) is one aggregation
    # (a cache was a job more: its own stage); with them the examples' query groups again,
    # a job more than reading the cache (docs/PROBES.md, session 46: 5 -> 4 and 6 -> 7)
    count = groups.agg(F.sum("added")).first()[0] or 0
    # the time as text in the session's zone (UTC, ensure_utc): a collected datetime
    # would be shown in the Python process's local zone
    shown = groups.withColumn("shown_time", F.date_format("timestamp", "yyyy-MM-dd HH:mm:ss"))
    first = shown.orderBy("timestamp", "card_id").limit(n_examples).collect() if count else []
    return int(count), tuple(_example(g) for g in first)


def _example(group) -> str:
    ids = " = ".join(f"{r[1]} ({'added' if r[0] else 'published'})" for r in group["rows"])
    return (
        f"{ids}: card_id {mask_card_id(group['card_id'])}, merchant_id {group['merchant_id']}, "
        f"{group['shown_time']}, amount {group['amount']:.15g}"
    )


def log_checks(checks: DeliveryChecks, table: str, source_for: Callable[[str], str] = str) -> None:
    """The WARNINGs of an append's checks; `source_for`: the export column that
    etl.columns maps a canonical column from."""
    if checks.rekeyed_copies:
        logger.warning(
            "ETL append: %d added row(s) equal a published or another added transaction in "
            "card_id, merchant_id, timestamp and amount under another transaction_id (e.g. "
            "%s). They were published as new transactions: a double charge looks like this, "
            "and so does a re-delivered day whose export gave its transactions new ids, which "
            "is then in %s twice. If this delivery repeats published transactions, rebuild "
            "the table without it (etl.mode: replace over the deliveries without the copy)",
            checks.rekeyed_copies, "; ".join(checks.rekeyed_examples[:2]), table,
        )  # fmt: skip
    if checks.skipped_days:
        logger.warning(
            "ETL append: %d date(s), %s, hold no rows: this delivery starts after them and the "
            "table ended before them (a missed delivery or an outage?). The window features "
            "of the days after them will count fewer transactions than happened; deliver them "
            "(etl.mode: append) before `fraud-app features`, or ignore this if no business "
            "happened then (`fraud-app validate` names such dates: event_date:volume)",
            checks.skipped_days, checks.skipped_dates,
        )  # fmt: skip
    if checks.backfilled_dates:
        days = checks.backfilled_dates
        logger.warning(
            "ETL append: rows dated %s were added on or before the newest published date "
            "(late rows). If `fraud-app score` already ran for these dates, the added rows "
            "have no score: score those dates again (the re-run replaces their partitions; "
            "the next `fraud-app score` names such dates, unscored_dates). The next "
            "`fraud-app features` also changes the features of every later transaction "
            "whose windows reach them, and scores already written for those were computed "
            "without them",
            ", ".join(days) if len(days) <= 6 else f"{', '.join(days[:3])}, ..., {days[-1]}",
        )  # fmt: skip
    log_column_drift(checks.emptied_columns, checks.unseen_values, table, source_for)


def warn_mostly_quarantined(result) -> None:
    """One WARNING when at least MOSTLY_QUARANTINED of the input's records were quarantined
    (an append's table still holds its earlier rows, so no other line said so); `result`:
    the ETL's EtlResult."""
    records, quarantined = result.input_rows, result.quarantine_rows
    by_reason, examples = result.quarantine_by_reason, result.quarantine_examples
    if not records or quarantined < MOSTLY_QUARANTINED * records:
        return
    top = max(by_reason, key=lambda k: by_reason[k])
    logger.warning(
        "ETL: %d of this input's %d records (%s) were quarantined, not published; most: %s "
        "(%d rows, e.g. %s). A delivery rejected as a whole usually means its export "
        "changed (another amount or timestamp format, a renamed value): fix the export or "
        "the etl.* setting the reason names and run the ETL on the delivery again (its "
        "quarantined records are not in the table, so they are added then); "
        "`quarantine_by_reason` in _etl_report.json counts them",
        quarantined, records, pct(quarantined / records), top, by_reason[top],
        examples.get(str(top), "-"),
    )  # fmt: skip
