"""Entity ids that hold a large share of the rows: one WARNING naming each before the windows run.

A test card run thousands of times, an aggregator merchant, or an export's placeholder
for "unknown" ('0', '-1', 'XXXX': not in etl.missing_ids) is ONE entity to the window
features. Its features are computed exactly (its own earlier rows), but for a
placeholder they mix unrelated transactions, and a card's sliding frames
(fraud_app.features.windows: Spark re-aggregates the rows in the frame for every row)
cost time that grows with the entity's rows per window: a card holding 30 % of 50,000
rows made `features` ~5x slower than uniform cards (session 29; nearly all of it the
amount z-scores: 25.5 s, 3.0 s with `frame: running`, whose running sums are exact
since session 52). Nothing said so. Owns the count
and the WARNING; the features themselves are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from fraud_app.card_masking import CARD_COLUMNS, mask_card_id
from fraud_app.features.base import FeatureDef
from fraud_app.features.keyed import Keyed

if TYPE_CHECKING:  # value_counts imports HOT: imported at run time it is a cycle
    from fraud_app.features.value_counts import ValueCounts

logger = logging.getLogger(__name__)
# an id is named when it holds at least this share of the rows and this many rows (small
# test tables and a large merchant of ordinary data are not worth a WARNING)
HOT_SHARE = 0.10
HOT_MIN_ROWS = 1_000
HOT = "rows"  # the `kind` of the value counts' checked rows ranked by rows (value_counts)


@dataclass(frozen=True)
class HotKey:
    column: str
    value: str
    rows: int
    total: int
    next_rows: int  # the column's second largest id's rows (0: none)
    sliding: bool  # features of this entity use sliding frames (cost: rows per window^2)

    def to_dict(self) -> dict:
        """The summary's record (printed by `features` and `run`, outside the data lake): a
        card's id masked to its first six and last four digits (fraud_app.card_masking)."""
        shown = mask_card_id(self.value) if self.column in CARD_COLUMNS else self.value
        return {**asdict(self), "value": shown}


def find_hot_keys(counts: ValueCounts, features: Sequence[FeatureDef]) -> list[HotKey]:
    """The ids of the window features' entity columns holding >= HOT_SHARE of the table's
    rows (and >= HOT_MIN_ROWS), largest first: from each column's two ids of most rows
    (ties: the smaller id first), which the value counts' pass collected
    (fraud_app.features.value_counts: its own window and collect were 2 Spark jobs)."""
    total = counts.total
    floor = max(HOT_SHARE * total, HOT_MIN_ROWS)
    if not counts.columns or total < floor:
        return []
    top = [
        {**r.asDict(), "rank": r["i"]} for r in counts.checked if r["kind"] == HOT and r["i"] <= 2
    ]
    second = {r["c"]: int(r["count"]) for r in top if r["rank"] == 2}
    keyed = [f for f in features if isinstance(f, Keyed)]
    sliding = {c: any(getattr(f, "sliding", False) for f in keyed if f.entity_column == c)
               for c in counts.columns}  # fmt: skip
    hot = [
        HotKey(r["c"], r["v"], int(r["count"]), total, second.get(r["c"], 0), sliding[r["c"]])
        for r in top
        if r["rank"] == 1 and r["count"] >= floor
    ]
    return sorted(hot, key=lambda h: -h.rows)


def warn_hot_keys(hot: Sequence[HotKey]) -> None:
    for h in hot:
        entity = h.column.removesuffix("_id")
        cost = (
            f"; its {entity} windows use sliding frames (frame: auto), whose cost per row grows "
            "with the entity's rows per window, so this step takes longer (frame: running in the "
            "spec uses exact running sums instead, O(1) per row, for counts, sums, means, stds "
            "and z-scores)"
        ) if h.sliding else ""  # fmt: skip
        logger.warning(
            "features: %s %r holds %d of the %d rows (%.1f %%; the next largest %s holds "
            "%d): its %s features are computed over all of them as one %s%s. If the value "
            "stands for an unknown %s (a placeholder such as 0 or -1), list it under "
            "etl.missing_ids and run etl again; if it is one real %s (a test card, an "
            "aggregator), this is expected",
            h.column, h.value, h.rows, h.total, 100 * h.rows / h.total, h.column, h.next_rows,
            entity, entity, cost, entity, entity,
        )  # fmt: skip
