"""The result of one ETL run (fraud_app.etl.pipeline.run_etl): `EtlResult`, the counts
and findings its report `_etl_report.json` holds, and `log_result`, the summary the run
logs from it (counts, the label ledger's re-applied and quarantined labels, the delivery
checks, the quarantine by reason, the dates a replace run removed).

Owns the report's fields and those log lines; not how the counts are measured
(fraud_app.etl.outputs, fraud_app.etl.stage_summary) nor the accounting check that stops
a run whose counts do not add up (fraud_app.etl.pipeline._check_accounting).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from fraud_app.etl import delivery_checks
from fraud_app.etl import ledger as label_ledger
from fraud_app.etl.delivery_checks import DeliveryChecks, log_checks

# its log lines keep the pipeline's logger name, as before the split (filters, tests)
logger = logging.getLogger("fraud_app.etl.pipeline")


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
    conflict_examples: tuple[str, ...] = ()
    seconds: float = 0.0
    # etl.mode: append: the rows the table held before this run (output_rows counts them)
    previous_rows: int = 0
    # dates the previous canonical table held and this run's input does not (removed)
    dropped_dates: tuple[str, ...] = ()
    # reason -> the detail of one of its quarantined rows (the first in text order)
    quarantine_examples: dict[str, str] = field(default_factory=dict)
    # rows this run added without a label (label and label_time null: not known yet)
    unlabelled_rows: int = 0
    # published unlabelled rows whose label this run filled in (append: a labelled copy)
    labels_filled: int = 0
    # etl.mode: replace over a table with a label ledger (fraud_app.etl.ledger): feed
    # labels filled in again, entries quarantined (added to the quarantine, not counted in
    # quarantine_rows: they are no input records) and entries whose id this input lacks
    labels_reapplied: int = 0
    # published labels corrected again from the ledger (a `labels` feed's 0 -> 1)
    corrections_reapplied: int = 0
    ledger_quarantined: dict[str, int] = field(default_factory=dict)
    ledger_not_found: int = 0
    # etl.mode: replace: rows `fraud-app labels` runs had quarantined, carried into the
    # rebuilt quarantine (not in quarantine_rows: no input records; they were dropped)
    label_feed_quarantine_kept: int = 0
    # etl.mode: append (fraud_app.etl.delivery_checks): added rows equal to another
    # transaction but for its id (published all the same), and dates added before the
    # newest published one or on it (late rows: unscored if their date was; the features
    # of later rows change at the next `features`)
    rekeyed_copies: int = 0
    rekeyed_examples: tuple[str, ...] = ()
    backfilled_dates: tuple[str, ...] = ()
    skipped_dates: str | None = None  # "first..last" no delivery holds, before this one's
    skipped_days: int = 0
    # etl.mode: append: optional columns this delivery holds far fewer values in than the
    # newest published dates (dropped, renamed or emptied upstream; fraud_app.etl.column_drift)
    emptied_columns: dict[str, dict] = field(default_factory=dict)
    unseen_values: dict[str, dict] = field(default_factory=dict)  # code columns spelt anew
    # etl.time_zone: rows whose wall clock happened twice (the fall-back hour), read with
    # the earlier offset (fraud_app.etl.local_times; a WARNING says so)
    ambiguous_local_times: int = 0
    # every published timestamp at 00:00:00 (etl.time_zone's clock): an export of dates,
    # not times (fraud_app.etl.local_times.times_of; a WARNING says so)
    date_only_timestamps: bool = False
    # the coarsest unit every published timestamp is a whole number of: 'sub-second',
    # 'second', 'minute', 'hour' or 'day' ('' without rows); a WARNING for minute and hour
    # (fraud_app.etl.clock_resolution)
    timestamp_resolution: str = ""
    # the same of label_time (a date read as its day's end counts as a whole day)
    label_time_resolution: str = ""
    # the delivery's label_time values written as a day's midnight and read as the END of
    # that day, its every label_time being a whole day (a clock of days; published or
    # quarantined rows; fraud_app.etl.label_clock, review54a; a line says so)
    label_times_read_as_day_end: int = 0
    # the country columns' codes published as alpha-2 though delivered in another ISO
    # 3166-1 form or case (USA, 840, us -> US), and those no ISO code, kept as delivered:
    # {column: {converted, unknown, unknown_examples}} (fraud_app.etl.country_codes; a
    # WARNING names the unknown ones)
    country_codes: dict[str, dict] = field(default_factory=dict)
    # optional ids (merchant_id, device_id) read as missing by etl.missing_ids, published
    # null: {column: {value as written: rows}} (fraud_app.etl.id_checks; a WARNING says so)
    placeholder_ids: dict[str, dict[str, int]] = field(default_factory=dict)
    # label words of both kinds, true/false and yes/no ('F' beside 'N'): {word as written:
    # rows}, published as read (fraud_app.etl.label_words; a WARNING says so)
    mixed_label_words: dict[str, int] = field(default_factory=dict)
    # the input's currency column (etl.columns.currency, or an unmapped column named
    # currency, ccy, cur, currency_code) and its rows per currency among the rows that
    # passed the rules, most first (up to 20); a first load whose amounts are all whole
    # numbers with a median >= 1000 and no etl.amount_minor_units: {rows, median}
    # (fraud_app.etl.amounts; a WARNING says each)
    currency_column: str | None = None
    currencies: dict[str, int] = field(default_factory=dict)
    amounts_look_minor: dict[str, float] = field(default_factory=dict)
    # the settings the amounts were read with (etl.amount_minor_units, etl.currency): an
    # append that reads them otherwise than the run before it is named in a WARNING
    amount_reading: dict = field(default_factory=dict)
    # how a label_time written as a date alone was read (fraud_app.etl.parsing: the end of
    # that day); an append onto a table read otherwise is named in a WARNING
    label_time_reading: str = ""
    # how timestamp and label_time were read: each one's format and etl.timestamp_origin
    # (EtlSection.time_reading); an append reading offsets after another origin, or in
    # another unit, is named in a WARNING (report_readings.check_time_reading; review52a)
    time_reading: dict = field(default_factory=dict)
    # how the code columns were spelt (schema.CODE_READING); a report without it is of a
    # release that kept codes as delivered: an append onto such a table holding codes now
    # spelt otherwise is refused (fraud_app.etl.code_reading)
    code_reading: str = ""
    # etl.mode: append: this run's job (its staging and quarantine file names), its input
    # (fraud_app.etl.commit_source.input_identity), and the job of the table's previous
    # report when that one published this same input whole (its rows are then this run's
    # duplicates: a retry of a run killed after its commit, the same delivery run twice)
    job: str = ""
    source: dict = field(default_factory=dict)
    repeat_of: str | None = None
    # the input columns no canonical column reads (not published; the quarantine keeps
    # a rejected record's every column), named in an INFO line (fraud_app.etl.pipeline)
    unread_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def log_result(r: EtlResult, source_for=str) -> None:
    """The run's summary lines (INFO; WARNING for what needs a look)."""
    added = f" ({r.output_rows - r.previous_rows} added to {r.previous_rows} published)"
    logger.info(
        "ETL %s: %d records in -> %d canonical%s, %d quarantined, %d identical duplicates "
        "dropped (%.1f s)",
        r.input_path, r.input_rows, r.output_rows, added if r.previous_rows else "",
        r.quarantine_rows, r.duplicate_rows, r.seconds,
    )  # fmt: skip
    if r.repeat_of:
        logger.warning(
            "ETL %s: this input was published whole by job %s (the table's previous report "
            "recorded the same files): its rows are the %d duplicates counted here, %d added "
            "(a retry of a run killed after its commit, or the same delivery run twice)",
            r.input_path, r.repeat_of, r.duplicate_rows, r.output_rows - r.previous_rows,
        )  # fmt: skip
    if r.unlabelled_rows:
        logger.info(
            "  %d of the rows added have no label yet (label null: scored, never trained or "
            "evaluated on, until a later delivery brings their label)", r.unlabelled_rows,
        )  # fmt: skip
    if r.labels_filled:
        logger.info("  %d published unlabelled rows got their label", r.labels_filled)
    _log_ledger(r)
    fields = ("rekeyed_copies", "rekeyed_examples", "backfilled_dates", "skipped_dates",
              "skipped_days", "emptied_columns", "unseen_values")  # fmt: skip
    log_checks(DeliveryChecks(**{f: getattr(r, f) for f in fields}), r.output_path, source_for)
    if r.output_rows:  # an empty table has its own WARNING (write_outputs)
        delivery_checks.warn_mostly_quarantined(r)
    for reason, n in r.quarantine_by_reason.items():
        example = r.quarantine_examples.get(reason)
        logger.info(
            "  quarantine reason %s: %d rows%s", reason, n, f" (e.g. {example})" if example else ""
        )
    if r.dropped_dates:
        days = r.dropped_dates
        logger.warning(
            "ETL replaced the canonical table %s: %d date(s) it held are not in this input "
            "and were removed (%s). Each run publishes exactly what etl.input holds: keep "
            "every delivery under etl.input (a folder of files; copies are dropped as "
            "duplicates), or the training and scoring history loses those dates",
            r.output_path, len(days),
            ", ".join(days) if len(days) <= 6 else f"{', '.join(days[:3])}, ..., {days[-1]}",
        )  # fmt: skip


def _log_ledger(r: EtlResult) -> None:
    """What a replace run did with the label ledger of the table it rebuilt."""
    if r.labels_reapplied:
        logger.info("  %d label(s) from `fraud-app labels` feeds re-applied from the label "
                    "ledger (%s/%s)", r.labels_reapplied, r.output_path, label_ledger.LEDGER)  # fmt: skip
    if r.corrections_reapplied:
        logger.info("  %d label correction(s) (0 -> 1) from `fraud-app labels` feeds re-applied "
                    "from the label ledger", r.corrections_reapplied)  # fmt: skip
    if r.ledger_quarantined:
        reasons = ", ".join(f"{k} {v}" for k, v in r.ledger_quarantined.items())
        logger.warning(
            "ETL: %d label(s) of the label ledger (`fraud-app labels` feeds) were not applied "
            "to the rebuilt table and are in the quarantine (%s): etl.input now gives those "
            "transactions another label, a later timestamp or a later label time (the quarantine's reason_detail "
            "names each)", sum(r.ledger_quarantined.values()), reasons,
        )  # fmt: skip
    if r.ledger_not_found:
        logger.warning(
            "ETL: %d label(s) of the label ledger are for transactions this input does not "
            "hold; they stay in the ledger and are applied when a rebuild holds them",
            r.ledger_not_found,
        )  # fmt: skip
