"""Feature definitions: the registry of feature kinds (`KINDS`: the `kind:` key of a spec
file -> its class).

Each class is one *kind* of feature and one instance is exactly one output column with a
deterministic name (`card_count_24h`, `card_amount_sum_7d`, `merchant_fraud_rate_30d`,
...), frozen, keyword-only and validated at construction. Usable directly from a notebook:

    from fraud_app.features.window_kinds import WindowAggregate
    WindowAggregate(entity="card", aggregation="sum", window="7d").name
    -> 'card_amount_sum_7d'

This module owns the registry only. The kinds live by what they read: the window kinds in
fraud_app.features.window_kinds (their bases: `FeatureDef` and the entities in
fraud_app.features.base, the entity / `same:` pair keys in fraud_app.features.keyed,
`window` / `lag` / `frame` in fraud_app.features.windowed) and the `novelty` kind in
fraud_app.features.novelty; the snapshot encodings in fraud_app.features.encoding_kinds;
the row-wise kinds in fraud_app.features.row_kinds. Reading YAML lives in
fraud_app.features.spec and turning definitions into Spark columns in
fraud_app.features.compile. Point-in-time semantics of each kind are documented on the
class and implemented in fraud_app.features.windows / encodings / rowwise.
"""

from __future__ import annotations

from fraud_app.features.base import FeatureDef
from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.novelty import Novelty
from fraud_app.features.row_kinds import Calendar, ColumnValue, CrossBorder, OneHot
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)

KINDS: dict[str, type[FeatureDef]] = {
    cls.kind: cls
    for cls in (
        WindowAggregate,
        AmountRatio,
        TimeSincePrevious,
        FraudRate,
        AmountZScore,
        VelocityRatio,
        Novelty,
        FrequencyEncoding,
        TargetEncoding,
        Calendar,
        CrossBorder,
        ColumnValue,
        OneHot,
    )
}
