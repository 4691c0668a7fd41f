"""Which id values mean "no value": an export's null markers and etl.missing_ids.

An export writes an unknown card or merchant as 'NULL', 'N/A', 'UNKNOWN', '-' or a
number of its own ('0', '-1'). Read as an id, each made ONE card or merchant of every
unknown one: its velocity and fraud-rate features mixed unrelated transactions. The ETL
rules (fraud_app.etl.rules) read such a value as missing: a required id's row is
quarantined, an optional id is published null. Owns the values and the per-row tests
(`MARK + c` working columns); not the rules' order nor the count (fraud_app.etl.id_checks).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl import parsing
from fraud_app.etl.config import NULL_MARKERS
from fraud_app.etl.shared_columns import shared

TEXT, MARK = "__t_", "__m_"  # working columns: the trimmed text; True: "no value"
PLACEHOLDER = "__placeholder_"  # staged: an optional id's text read as missing
ID_COLUMNS = ("transaction_id", "card_id", "merchant_id", "device_id")
# ids a row may lack (published null); the others are required (quarantined)
OPTIONAL_IDS = ("merchant_id", "device_id")
# what exports write for a missing value; an id column holding one is missing: 'NULL' as a
# card_id made one card of every card-less row, 'N/A' one merchant of every unknown one
# (etl.config.NULL_MARKERS, which the config checks etl.label_values against)
# columns where a null marker means no value: the ids, and the label and its time (a label
# not known yet; a pandas float column writes it as NaN)
MARKED_COLUMNS = (*ID_COLUMNS, "label", "label_time")


def _text(name: str) -> Column:
    return F.col(TEXT + name)


@shared  # in the marks and again in the rules' details
def _null_marker(name: str) -> Column:
    return F.coalesce(F.lower(_text(name)).isin(*NULL_MARKERS), F.lit(False))


def marks(name: str, missing_ids: tuple[str, ...], unknown_labels: tuple[str, ...] = ()) -> Column:
    """True where the value of `name` (a MARKED_COLUMNS column) means no value: a null
    marker, in an id column one of `missing_ids` (etl.missing_ids), compared as an id
    ('0.0' is '0', parsing.id_text) without case, in the label one of `unknown_labels`
    (folded texts etl.label_values maps to null: not known yet)."""
    if name == "label" and unknown_labels:
        return _null_marker(name) | F.coalesce(
            F.lower(_text(name)).isin(*unknown_labels), F.lit(False)
        )
    placeholders = sorted({v.lower() for v in missing_ids})
    if name not in ID_COLUMNS or not placeholders:
        return _null_marker(name)
    ident = F.lower(parsing.id_text(_text(name)))
    return _null_marker(name) | F.coalesce(ident.isin(*placeholders), F.lit(False))


def is_placeholder(name: str) -> Column:
    """The id is missing by etl.missing_ids (not by a built-in null marker)."""
    return F.col(MARK + name) & ~_null_marker(name)


def placeholder_columns() -> dict[str, Column]:
    """{PLACEHOLDER + c: the text of optional id c where etl.missing_ids read it as missing}."""
    return {PLACEHOLDER + c: F.when(is_placeholder(c), _text(c)) for c in OPTIONAL_IDS}
