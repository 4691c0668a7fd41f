"""Checks of a feature set against the data's columns that read names and types only (no
Spark job): a feature computing with a text column's numbers, a feature name or vector
column that is a column of the feature table. fraud_app.features.compile runs them before
it builds anything; the feature step checks the canonical schema's types before Spark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from fraud_app.config_base import nearest
from fraud_app.errors import FeatureSpecError
from fraud_app.features.base import FeatureDef
from fraud_app.features.frames import FRAUD, KNOWN, ROW, TS
from fraud_app.schema import PARTITION_COLUMN

# Carried from the input to the feature table when present (never model inputs).
PASSTHROUGH_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "card_id",
    "merchant_id",
    "timestamp",
    "label",
    "label_time",
    "fraud_pattern",
    PARTITION_COLUMN,
)
HELPER_COLUMNS: tuple[str, ...] = (TS, KNOWN, FRAUD, ROW)


_FOR_TEXT = (
    "for a text column use count_distinct (window_agg), one_hot, frequency_encoding or "
    "target_encoding"
)


def check_numeric_inputs(df: DataFrame, features: Sequence[FeatureDef]) -> None:
    """Refuse a feature that computes with the numbers of a column holding text: Spark cast
    it to double, so `mean` of `mcc` averaged the codes, `column: channel` wrote the fill in
    every row (each value cast to null), `sum` of `merchant_id` failed in a task. A column
    absent from `df` is left to the skipping rule. Reads the schema only (no Spark job)."""
    check_numeric_types(features, {f.name: f.dataType for f in df.schema.fields})


_NUMERIC_DDL = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


def check_numeric_types(features: Sequence[FeatureDef], types: Mapping[str, Any]) -> None:
    """`check_numeric_inputs` against column types given as Spark types or DDL names (the
    canonical schema, fraud_app.schema: checked before Spark starts)."""
    for feature in features:
        for column in feature.numeric_inputs:
            kind = types.get(column)
            if kind is None:
                continue
            name = kind if isinstance(kind, str) else kind.simpleString()
            if isinstance(kind, T.NumericType) or name.split("(")[0] in _NUMERIC_DDL:
                continue
            what = feature.kind
            if feature.kind == "window_agg":
                what = f"{what}, aggregation {getattr(feature, 'aggregation', None)}"
            raise FeatureSpecError(
                f"feature {feature.name!r} ({what}) computes with the numbers of column "
                f"{column!r}, which holds {name} values; expected a numeric column "
                f"(int, double, decimal) such as amount: {_FOR_TEXT}"
            )


def check_known_columns(
    features: Sequence[FeatureDef], sources: Sequence[str], columns: Sequence[str]
) -> None:
    """Refuse a feature that reads a column the input can never hold (`columns`: the
    canonical schema's, for the feature step over the ETL's table): `column: amout` was
    accepted and the feature skipped as "absent" on every run, one WARNING among the
    logs and a feature fewer in the table (session 50). `sources`: where each feature was
    defined ("<file>: features[3]"), or empty. Names only, compared exactly: the skip rule
    reads a spec's column as the data spells it (`column: Amount` is skipped on a table of
    `amount`, README), so here it is refused, naming `amount`."""
    known = set(columns)
    where = sources or ("<code>",) * len(features)
    for feature, source in zip(features, where, strict=True):
        unknown = [c for c in feature.inputs if c not in known]
        if unknown:
            close = nearest(unknown[0], columns)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise FeatureSpecError(
                f"{source}: feature {feature.name!r} ({feature.kind}) reads column "
                f"{unknown[0]!r}{hint}, which the canonical table does not have, so the "
                f"feature would be skipped as absent on every run. Expected one of the "
                f"canonical columns {sorted(columns)}; a column of a table of your own is "
                "read with features.input"
            )


def check_names(features: list[FeatureDef], vector_column: str | None) -> None:
    """Refuse feature names (or a vector column) that are columns of the feature table."""
    # compared ignoring case, as Spark reads column names: a vector column `Card_Count_1d`
    # beside the feature card_count_1d stopped the write on COLUMN_ALREADY_EXISTS
    if vector_column and vector_column.lower() in {*PASSTHROUGH_COLUMNS, *HELPER_COLUMNS}:
        raise FeatureSpecError(
            f"vector column {vector_column!r} is a column of the feature table "
            f"{sorted({*PASSTHROUGH_COLUMNS, *HELPER_COLUMNS})}: name it otherwise, e.g. 'features'"
        )
    reserved = {*PASSTHROUGH_COLUMNS, *HELPER_COLUMNS, *([vector_column] if vector_column else [])}
    lower = {r.lower() for r in reserved}
    clashes = sorted({f.name for f in features if f.name.lower() in lower})
    if clashes:
        raise FeatureSpecError(
            f"feature name(s) {clashes} clash with columns of the feature table "
            f"{sorted(reserved)}: rename the feature or set another vector column"
        )


def check_data_columns(columns: Sequence[str], added: Sequence[FeatureDef]) -> None:
    """Refuse data columns named like a feature the compiler adds to the rows as a column
    of its own (the window features and the encodings), compared ignoring case as Spark
    does: the data's column and the feature's met in one plan (`[AMBIGUOUS_REFERENCE]
    Reference `card_count_24h` is ambiguous`, after a JVM stack trace logged at ERROR), and
    a feature reading that column could not say which it meant. Reads names only."""
    names = {f.name.lower(): f.name for f in added}
    clashes = sorted(c for c in columns if c.lower() in names)
    if clashes:
        which = ", ".join(
            f"{c!r} (feature {names[c.lower()]!r})" if c != names[c.lower()] else repr(c)
            for c in clashes
        )
        raise FeatureSpecError(
            f"input column(s) {which} have the name of a feature the specs compute; the "
            "rows would hold the data's column and the feature's under one name. Rename or "
            "drop the data's column before computing features (or leave that feature out)"
        )
