"""Entity ids written in two spellings of one value: leading zeros ('00123' / '123') or case.

The ETL keeps an id as written (blanks at its ends, NFC and '123.0' aside): '00123' and
'123' are two cards, 'AB12' and 'ab12' two merchants. Usually that is right, but an
export that wrote a card number column as numbers drops its zeros (Parquet or JSON
integers beside text deliveries), and a merchant typed by hand changes case: one entity
then splits into two, each with half a history, and every window feature of its rows
is too small, without a word. The ids may also be distinct (case-sensitive ids), so
this module only counts such pairs over the whole table and names them in one WARNING
per column and kind; it changes no value. Owns the check, not the ids (fraud_app.etl).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.card_masking import CARD_COLUMNS, mask_card_id

if TYPE_CHECKING:  # value_counts groups by spelling_keys: imported at run time it is a cycle
    from fraud_app.features.value_counts import ValueCounts

logger = logging.getLogger(__name__)
EXAMPLES = 3  # groups shown per column and kind
ZEROS, CASE = "leading zeros", "case"


def spelling_keys(v: Column) -> list[Column]:
    """(kind, k) structs of the id `v`: its key for each kind of spelling (null: none), the
    ids of one column with the same kind and key in one group. The value counts' pass
    groups them with its dates and keeps the first EXAMPLES groups of each column and kind
    (by key) and their number (fraud_app.features.value_counts: a grouping, a window and a
    collect of their own here were 3 Spark jobs)."""
    return [
        F.struct(F.lit(ZEROS).alias("kind"),
                 F.when(v.rlike("^[0-9]+$"), F.regexp_replace(v, "^0+(?=[0-9])", "")).alias("k")),
        F.struct(F.lit(CASE).alias("kind"), F.lower(v).alias("k")),
    ]  # fmt: skip


def find_spellings(counts: ValueCounts) -> dict[str, dict]:
    """{column: {kind: {"groups": n, "examples": [[spellings], ...]}}} for the window
    features' entity columns: groups of distinct ids equal but for leading zeros (digits
    only) or case; {} when none. Read from the first EXAMPLES groups per column and kind
    (by key) and their number, which the value counts' pass collected (`spelling_keys`)."""
    found: dict[str, dict] = {}
    rows = [r for r in counts.checked if r["kind"] in (ZEROS, CASE)]
    for r in sorted(rows, key=lambda r: (r["c"], r["kind"], r["i"])):
        entry = found.setdefault(r["c"], {}).setdefault(r["kind"], {"groups": int(r["groups"]),
                                                                     "examples": []})  # fmt: skip
        entry["examples"].append(list(r["vs"]))
    return found


def shown_spellings(found: dict[str, dict]) -> dict[str, dict]:
    """`found` as the summary shows it (printed by `features` and `run`, outside the data
    lake): a card column's spellings masked to their first six and last four digits
    (fraud_app.card_masking); other columns' as found."""
    return {
        column: {kind: {**entry, "examples": [[mask_card_id(s) for s in vs]
                                              for vs in entry["examples"]]}
                 for kind, entry in kinds.items()} if column in CARD_COLUMNS else kinds
        for column, kinds in found.items()
    }  # fmt: skip


def warn_spellings(found: dict[str, dict]) -> None:
    for column, kinds in found.items():
        entity = column.removesuffix("_id")
        for kind, entry in kinds.items():
            shown = "; ".join(" / ".join(repr(s) for s in vs) for vs in entry["examples"])
            cause = (
                "an export that wrote the ids as numbers drops their zeros" if kind == ZEROS
                else "ids typed or exported in another case"
            )  # fmt: skip
            logger.warning(
                "features: %d %s value(s) come in several spellings that differ only in %s "
                "(e.g. %s): each spelling is its own %s to the features, with its own "
                "history. If they are one %s (%s), deliver the ids in one spelling (as text) "
                "and run etl again; if they are distinct %ss, this is expected",
                entry["groups"], column, kind, shown, entity, entity, cause, entity,
            )  # fmt: skip
