"""Schema drift upstream, seen in an `etl.mode: append` delivery against the newest
published dates: what a column's values did, not what its header says.

- emptied columns: an optional column (mcc, channel, country, card_country, merchant_id,
  device_id) holding a value in less than half the share of rows it did (the export
  dropped the column, renamed it, or left it empty). The ETL publishes those rows with
  the column null: the features that read it take their fill value on the new dates,
  values the models learnt nothing from.
- unseen values: a code column (CODE_COLUMNS) whose value, in at least half the added
  rows holding one, the published dates never held (the export changed its spelling:
  mcc `5812` -> `Restaurants`, countries `DE` -> `de` or `Germany`; a number through a
  float, `5812.0`, is MCC `5812`: fraud_app.etl.parsing.code_text). Each
  such row is a category the encodings never counted.

Both are published as delivered (a new merchant category can be real) and named in one
WARNING and in the report; both are counted in one Spark job (`column_drift`). Owns these
measures; the caller (fraud_app.etl.delivery_checks) chooses the published dates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.schema import LABEL_COLUMNS, OPTIONAL_COLUMNS

logger = logging.getLogger(__name__)

# the optional columns judged for emptied values: not the labels (null on new rows by
# design) nor the generator's fraud_pattern (analysis only)
FILLED_COLUMNS = tuple(c for c in OPTIONAL_COLUMNS if c not in (*LABEL_COLUMNS, "fraud_pattern"))
# the columns of few, stable values (codes): a merchant or a device never seen is usual
CODE_COLUMNS = ("mcc", "channel", "country", "card_country")
MIN_EXPECTED_VALUES = 5  # judged when the delivery should hold this many values
SHOWN = 3  # values shown per column
_NEW, _ROWS = "__added", "__rows"


def column_drift(
    added: DataFrame, published: DataFrame, dates: list[str]
) -> tuple[dict[str, dict], dict[str, dict]]:
    """(emptied columns, unseen values) of the `added` rows against `published` (the rows
    of `dates`), from ONE Spark job over both (`_drift_counts`): the two checks each ran
    their own job over the same rows before (session 34)."""
    rows = _drift_counts(added, published)
    return _emptied(rows, dates), _unseen(rows, dates)


def _drift_counts(added: DataFrame, published: DataFrame) -> list:
    """Rows (k, v, new, old) of one aggregation: k = _ROWS counts each side's rows; k = a
    FILLED_COLUMNS column (v null) its rows holding a value; k = a CODE_COLUMNS column
    its rows per non-null value v (whose sum is its rows holding a value)."""
    null = F.lit(None).cast("string")
    entries = [F.struct(F.lit(_ROWS).alias("k"), null.alias("v"), F.lit(True).alias("held"))]
    for c in dict.fromkeys([*FILLED_COLUMNS, *CODE_COLUMNS]):
        value = F.col(c) if c in CODE_COLUMNS else null
        entries.append(F.struct(F.lit(c).alias("k"), value.alias("v"),
                                F.col(c).isNotNull().alias("held")))  # fmt: skip
    pairs = F.explode(F.array(*entries)).alias("p")
    both = added.select(pairs, F.lit(True).alias(_NEW)).unionByName(
        published.select(pairs, F.lit(False).alias(_NEW))
    )
    return (
        both.where(F.col("p.held"))
        .groupBy(F.col("p.k").alias("k"), F.col("p.v").alias("v"))
        .agg(
            F.count(F.when(F.col(_NEW), 1)).alias("new"),
            F.count(F.when(~F.col(_NEW), 1)).alias("old"),
        )
        .collect()
    )


def _emptied(rows: list, dates: list[str]) -> dict[str, dict]:
    """The FILLED_COLUMNS whose share of added rows holding a value is below half their
    share in the published rows (`lost_values`); judged when the added rows should hold
    MIN_EXPECTED_VALUES values at the published share."""
    total = next((r for r in rows if r["k"] == _ROWS), None)
    if total is None or not total["new"] or not total["old"]:
        return {}
    out = {}
    for c in FILLED_COLUMNS:
        new = sum(r["new"] for r in rows if r["k"] == c)
        old = sum(r["old"] for r in rows if r["k"] == c)
        usual, now = old / total["old"], new / total["new"]
        if lost_values(total["new"], new, usual):
            out[c] = {"added_share": round(now, 4), "published_share": round(usual, 4),
                      "published_dates": f"{dates[0]}..{dates[-1]}"}  # fmt: skip
    return out


def lost_values(rows: int, held: int, usual: float) -> bool:
    """Whether `held` of `rows` rows holding a value is below half the `usual` share, for
    rows that should hold MIN_EXPECTED_VALUES values at that share (fewer: chance). The
    rule of both drift checks: an append's delivery here, a scored date in
    fraud_app.scoring.input_fill."""
    return rows * usual >= MIN_EXPECTED_VALUES and held / rows < usual / 2


def _unseen(rows: list, dates: list[str]) -> dict[str, dict]:
    """The CODE_COLUMNS whose value, in at least half of the added rows holding one
    (MIN_EXPECTED_VALUES at least), the published rows never hold."""
    out = {}
    for c in CODE_COLUMNS:
        mine = [r for r in rows if r["k"] == c]
        held = sum(r["new"] for r in mine)
        unseen = sorted(
            (r for r in mine if r["new"] and not r["old"]), key=lambda r: (-r["new"], r["v"])
        )
        share = sum(r["new"] for r in unseen) / held if held else 0.0
        if held >= MIN_EXPECTED_VALUES and share >= 0.5:
            seen = sorted((r for r in mine if r["old"]), key=lambda r: (-r["old"], r["v"]))
            out[c] = {
                "added_share": round(share, 4),
                "added_values": [r["v"] for r in unseen[:SHOWN]],
                "published_values": [r["v"] for r in seen[:SHOWN]],
                "published_dates": f"{dates[0]}..{dates[-1]}",
            }
    return out


def log_column_drift(
    emptied: dict[str, dict], unseen: dict[str, dict], table: str,
    source_for: Callable[[str], str],
) -> None:  # fmt: skip
    """One WARNING for the emptied columns and one for the unseen values, if any."""
    if emptied:
        parts = [
            f"{c} (export column {source_for(c)!r}) in {pct(v['added_share'])} of the added "
            f"rows, against {pct(v['published_share'])} of the published rows of "
            f"{v['published_dates']}"
            for c, v in emptied.items()
        ]
        logger.warning(
            "ETL append: this delivery lost the values of optional column(s) the published "
            "rows hold: %s. Its rows are published into %s with those columns null: the "
            "features that read them take their fill value on these dates, values the "
            "models trained before learnt nothing from, so their scores shift (`fraud-app "
            "score` names such dates). If the export dropped, renamed or emptied a column, "
            "fix etl.columns or the delivery, then rebuild the table with it (etl.mode: "
            "replace over every delivery): a second append of the same transactions is a "
            "duplicate",
            "; ".join(parts), table,
        )  # fmt: skip
    if unseen:
        parts = [
            f"{c} (export column {source_for(c)!r}): {pct(v['added_share'])} of the added "
            f"rows hold values the published rows of {v['published_dates']} never do (e.g. "
            f"{', '.join(map(repr, v['added_values']))}; published: "
            f"{', '.join(map(repr, v['published_values']))})"
            for c, v in unseen.items()
        ]
        logger.warning(
            "ETL append: this delivery's values of code column(s) are mostly new: %s. They "
            "are published into %s as written; to the categorical features each is a value "
            "never seen, so their scores shift. If the export changed how it writes them "
            "(another case or name), fix the delivery and rebuild "
            "the table with it (etl.mode: replace over every delivery)",
            "; ".join(parts), table,
        )  # fmt: skip


def pct(share: float) -> str:
    return f"{share:.0%}" if share == 0 or share >= 0.01 else f"{share:.2%}"
