"""The readings an ETL report records, and their checks against the table's last report.

A report records how its run read what a setting decides: the amounts
(`amount_reading`: etl.amount_minor_units and etl.currency), a label_time written as a
date alone or as a clock of days (`label_time_reading`), the time columns
(`time_reading`: formats, etl.timestamp_origin, etl.time_zone) and the code columns
(`code_reading`); `recorded` gives the four for this run's settings. An append, or a
labels feed, onto a table whose last ETL run read one of them otherwise puts rows of two
readings in one table without a word; `check_readings` takes that last report once and
says each change in one WARNING (nothing is refused: a delivery may rightly count from its
own origin or zone).

Does not own reading the last report (fraud_app.etl.pipeline._last_report,
fraud_app.etl.labels._etl_report), the readings themselves (fraud_app.etl.parsing,
fraud_app.etl.amounts, fraud_app.etl.config), nor the codes' check, which reads the
published rows and refuses the append (fraud_app.etl.code_reading). The WARNINGs keep the
loggers they had before this module was split out (session 55): `fraud_app.etl.amounts`
for the amounts, `fraud_app.etl.pipeline` for the times.
"""

from __future__ import annotations

import logging

from fraud_app import schema
from fraud_app.etl import parsing
from fraud_app.etl.amount_config import ISO4217
from fraud_app.etl.config import EPOCH_FORMATS, OFFSET_FORMATS, EtlSection
from fraud_app.etl.iso4217 import MINOR_UNITS

logger = logging.getLogger("fraud_app.etl.pipeline")  # as before the split (session 55)
_amount_logger = logging.getLogger("fraud_app.etl.amounts")

TIME_COLUMNS = ("timestamp", "label_time")  # the time columns an ETL run reads


def recorded(cfg: EtlSection) -> dict:
    """The readings of this run's settings, as its report records them."""
    return {"amount_reading": amount_reading(cfg), "label_time_reading": parsing.LABEL_TIME_READING,
            "time_reading": cfg.time_reading(), "code_reading": schema.CODE_READING}  # fmt: skip


def check_readings(
    last_report: object, cfg: EtlSection, table: str, moved: int = 0, *, feed: bool = False
) -> None:
    """This run's readings against the table's last ETL report (`last_report`, as read:
    anything but a dict is no report), one WARNING per reading that changed: the amounts
    (not on a labels feed, `feed`, which reads no amount), the label_time (`moved`: the
    delivery's midnights read as their day's end, label_clock.read_day_clock) and the time
    columns (a feed's label_time alone)."""
    if not feed:
        check_amount_reading(last_report, cfg, table)
    check_label_time_reading(last_report, table, moved)
    check_time_reading(last_report, cfg, table, ("label_time",) if feed else TIME_COLUMNS)


def amount_reading(cfg: EtlSection) -> dict:
    """The settings the amounts were read with, as the ETL report records them."""
    currency = cfg.currency.model_dump() if cfg.currency is not None else None
    if currency is not None and not currency["minor_units"]:
        del currency["minor_units"]  # as a report before session 42 recorded it
    return {"minor_units": cfg.amount_minor_units, "currency": currency}


def _divisors(reading: dict) -> tuple[object, object]:
    """A reading as the decimals each accepted currency is divided by, and the rest of
    etl.currency: 2 and iso4217 over EUR and USD read alike (an append switching between
    them was named as mixing units); null and 0 both read the amounts as written."""
    units, currency = reading.get("minor_units") or 0, reading.get("currency")
    if not isinstance(currency, dict):
        return units, currency
    rest = {k: v for k, v in currency.items() if k != "minor_units"}
    known = {**MINOR_UNITS, **(currency.get("minor_units") or {})}
    accepted = [rest.get("base"), *(rest.get("rates") or {})]
    return {c: known.get(c) if units == ISO4217 else units for c in accepted}, rest


def _same_reading(before: dict, now: dict) -> bool:
    return _divisors(before) == _divisors(now)


def check_amount_reading(last_report: object, cfg: EtlSection, table: str) -> None:
    """An append (`last_report`: the table's report before it, a dict; a report of a
    release before session 41 has no `amount_reading`: it read the amounts as written)
    whose amount settings differ from that run's: one WARNING naming both."""
    if not isinstance(last_report, dict):
        return
    before = last_report.get("amount_reading") or {"minor_units": None, "currency": None}
    now = amount_reading(cfg)
    if isinstance(before, dict) and not _same_reading(before, now):
        _amount_logger.warning(
            "ETL: this append reads amounts with etl.amount_minor_units %s and etl.currency "
            "%s, but the run before it on %s read them with %s and %s: the table now holds "
            "amounts of both readings, which its features add up as one unit. If the "
            "settings were corrected, rebuild the table with them (etl.mode: replace over "
            "every delivery); else put the earlier settings back",
            now["minor_units"], now["currency"], table, before.get("minor_units"),
            before.get("currency"),
        )  # fmt: skip


def check_label_time_reading(last_report: object, table: str, moved: int = 0) -> None:
    """An append (or a labels feed, fraud_app.etl.labels) onto a table whose last ETL run
    read a label_time otherwise: one WARNING, the table then holds both readings. A report
    of a release before review51c has no `label_time_reading`: it read a date alone as its
    midnight; one of review51c (`date_only_end_of_day`) read a clock of days written as
    midnights as those midnights, which matters only to a delivery whose `moved` (its
    midnights read as their day's end, label_clock.read_day_clock) is not 0."""
    if not isinstance(last_report, dict):
        return
    before = last_report.get("label_time_reading") or "date_only_midnight"
    if before == parsing.LABEL_TIME_READING or (before == parsing.DATE_ONLY_READING and not moved):
        return
    if before == parsing.DATE_ONLY_READING:
        said = ("reads this delivery's label_time, a clock of days written as midnights "
                f"({moved} value(s)), as the END of each day ({parsing.LABEL_TIME_READING}), "
                f"but the run before it on {table} read such midnights as written "
                f"({before}), up to a day before the label was known")  # fmt: skip
    else:
        said = ("reads a label_time written as a date alone (2024-01-05) as the end of that "
                f"day ({parsing.LABEL_TIME_READING}), but the run before it on {table} read "
                f"such dates as their midnight ({before}), up to a day before the label was "
                "known")  # fmt: skip
    logger.warning(
        "ETL: this append %s: the table now holds both readings, and a re-delivered row of "
        "such a label_time is another version of it. Rebuild the table (etl.mode: replace "
        "over every delivery, then the labels feeds again) so that every label_time is read "
        "one way",
        said,
    )


def check_time_reading(
    last_report: object,
    cfg: EtlSection,
    table: str,
    columns: tuple[str, ...] = TIME_COLUMNS,
) -> None:
    """An append (or a labels feed: `columns` label_time) reading a time column as offsets
    after another etl.timestamp_origin, or in another unit, than the table's last ETL run
    did: one WARNING naming both (review52a: the same offset became another instant
    without a word, the new rows shifted against the published ones). A report before
    session 52 has no `time_reading`: it read no offsets."""
    before = last_report.get("time_reading") if isinstance(last_report, dict) else None
    if not isinstance(before, dict):
        return
    now = cfg.time_reading()
    said = [
        f"{c} as {now[c]} after {now['timestamp_origin']} (the run before: {before.get(c)} "
        f"after {before.get('timestamp_origin')})"
        for c in columns
        if now[c] in OFFSET_FORMATS and before.get(c) in OFFSET_FORMATS
        and (now[c], now["timestamp_origin"]) != (before.get(c), before.get("timestamp_origin"))
    ]  # fmt: skip
    _check_time_zone(before, now, table, columns)
    if said:
        logger.warning(
            "ETL: this run on %s reads %s: an offset of this delivery is another instant than "
            "the same offset of the published rows. If each delivery counts from its own "
            "start, that is right; if etl.timestamp_origin or the format was corrected, rebuild "
            "the table with it (etl.mode: replace over every delivery, then the labels feeds "
            "again); else put the earlier setting back",
            table, "; ".join(said),
        )  # fmt: skip


def _check_time_zone(before: dict, now: dict, table: str, columns: tuple[str, ...]) -> None:
    """A time column read as wall-clock times (neither an epoch nor an offset) in another
    etl.time_zone than the table's last ETL run: one WARNING (review52a's Left: the same
    local time of this delivery became another instant than the published rows' without
    a word). A report before this check has no `time_zone` key: nothing is compared."""
    if "time_zone" not in before or before["time_zone"] == now["time_zone"]:
        return
    instants = (*EPOCH_FORMATS, *OFFSET_FORMATS)
    read = [c for c in columns if now[c] not in instants and before.get(c) not in instants]
    if read:
        logger.warning(
            "ETL: this run on %s reads the wall-clock times of %s (written without an offset "
            "or zone) in etl.time_zone %s; the table's last run read them in %s: the same "
            "local time is another instant. If this delivery's times are local to %s, that "
            "is right; if etl.time_zone was corrected, rebuild the table with it (etl.mode: "
            "replace over every delivery, then the labels feeds again); else put the earlier "
            "setting back",
            table, " and ".join(read), now["time_zone"] or "UTC (not set)",
            before["time_zone"] or "UTC (not set)", now["time_zone"] or "UTC",
        )  # fmt: skip
