"""Compile a FeatureSet against a canonical DataFrame into a feature table.

Plan (each step one concern, in its own module):
  1. skip the features that would be constant: input columns absent or entirely null (ETL
     creates absent optional columns as all-null ones), a label window no label reaches,
     a lag not shorter than the data's span (fraud_app.features.profile, one Spark job):
     ONE warning lists them, and the result too; warn once about log1p inputs <= -1;
  2. add helper columns: `_ts` (epoch microseconds), `_known` (label_known_at),
     `_fraud` (1 for label = 1), `_row` (1 for a data row);
  3. per-entity window features, one sort per entity (fraud_app.features.windows); the
     novelty flags (fraud_app.features.novelty) first, one sort per (entity, column);
  4. snapshot encodings, joined by broadcast while small (fraud_app.features.encodings);
  5. row-wise features (fraud_app.features.rowwise);
  6. undefined values -> each feature's fill value, every feature as double, and
     optionally the float vector `features` in FeatureSet order.
Nothing is collected to the driver; the result is a lazy DataFrame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.etl.reader import quoted
from fraud_app.features.base import FeatureDef
from fraud_app.features.encodings import ENCODING_KINDS, add_encodings
from fraud_app.features.frames import check_internal_names, helper_prefix
from fraud_app.features.input_checks import (  # noqa: F401 - HELPER_COLUMNS re-exported
    HELPER_COLUMNS,
    PASSTHROUGH_COLUMNS,
    check_data_columns,
    check_names,
    check_numeric_inputs,
)
from fraud_app.features.keyed import pair_key_columns
from fraud_app.features.labels import is_fraud, label_known_at_micros, ts_micros
from fraud_app.features.novelty import add_novelty_flags
from fraud_app.features.profile import (
    DataProfile,
    ProfileAsk,
    data_profile,
    lag_beyond_data,
    lag_reason,
    profile_ask,
    warn_log1p_below_domain,
)
from fraud_app.features.rowwise import ROWWISE_KINDS, rowwise_column
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import FraudRate
from fraud_app.features.windows import ENTITY_KINDS, FRAUD, KNOWN, ROW, TS, entity_features
from fraud_app.schema import PARTITION_COLUMN, REQUIRED_COLUMNS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedFeature:
    name: str
    missing: tuple[str, ...]  # input columns absent from the data
    all_null: tuple[str, ...] = ()  # input columns present but null in every row
    # a label window that no label can reach: without label_time, labels are known only
    # `label delay` after the transaction, and the window ends within that delay
    labels_unknown: bool = False
    # a window that ends `lag` before t, with lag >= the data's span: no row is in it
    lag_beyond_data: str = ""  # the reason in words (fraud_app.features.profile.lag_reason)
    # the data's columns spelled like a missing one but for case (`column: Amount` on a
    # table of `amount`): the spec names columns as written, so it is skipped, said so
    near: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        parts = [f"absent: {', '.join(self.missing)}"] if self.missing else []
        if self.near:
            parts[-1] += (
                f" (the data has {', '.join(map(repr, self.near))}: a spec names a column "
                "exactly as the data spells it)"
            )
        parts += [f"all null: {', '.join(self.all_null)}"] if self.all_null else []
        if self.labels_unknown:
            parts.append(
                "no label_time, and its window ends within the label delay: no label in it "
                "is known yet, so it is 0 on every row"
            )
        parts += [self.lag_beyond_data] if self.lag_beyond_data else []
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """The `skipped` entry of _features.json and of the features step's summary."""
        out = {"name": self.name, "missing": list(self.missing), "all_null": list(self.all_null)}
        if self.labels_unknown:
            out["labels_unknown"] = True
        if self.lag_beyond_data:
            out["lag_beyond_data"] = self.lag_beyond_data
        return out


@dataclass(frozen=True)
class FeatureResult:
    """The feature table (lazy) and what went into it."""

    df: DataFrame
    feature_names: tuple[str, ...]  # computed features, in vector order
    skipped: tuple[SkippedFeature, ...]
    vector_column: str | None
    label_delay_s: int


def compute_features(
    df: DataFrame,
    feature_set: FeatureSet,
    *,
    vector_column: str | None = "features",
    skip_all_null: bool = True,
    whole_history: DataFrame | None = None,
    skip_lags_beyond_data: bool = True,
    profile: DataProfile | None = None,
) -> FeatureResult:
    """Every computable feature of `feature_set` for every row of the canonical `df`.

    skip_all_null: also skip features whose optional input column is null in every row,
    whose window ends `lag` before t with lag >= the data's span (first to last
    timestamp: no row is in it; with `skip_lags_beyond_data`), and, when label_time is
    absent or null in every row, the fraud-rate windows that end within the label delay
    (0 on every row: no label in them is known yet); and warn about log1p inputs <= -1.
    One small Spark job (fraud_app.features.profile) counts what these need.
    skip_lags_beyond_data: False for a slice of a table (the scorer's history, which the
    feature step judged whole): there a lag longer than the slice is history not read,
    not a constant feature.
    whole_history: canonical rows (a superset of `df`'s, same columns) that the
    categorical encodings and the all-null check read instead of `df`: the batch scorer
    passes every row up to its last date and, as `df`, only the history the window
    features need (fraud_app.scoring.history).
    profile: what that job would count, already counted over the same rows by a pass of the
    caller (fraud_app.features.value_counts; used when it answers `skip_ask`'s question)."""
    if "timestamp" not in df.columns:
        raise SchemaError(
            f"compute_features needs a `timestamp` column (canonical schema). Received columns: {df.columns}"
        )
    whole = df if whole_history is None else whole_history
    check_internal_names([*df.columns, *([] if whole_history is None else whole.columns)])
    check_numeric_inputs(whole, feature_set.features)
    computable, skipped, profile = _split_available(
        whole, feature_set, skip_all_null=skip_all_null, lags=skip_lags_beyond_data, given=profile
    )
    check_names(computable, vector_column)
    windowed = [f for f in computable if isinstance(f, ENTITY_KINDS)]
    encodings = [f for f in computable if isinstance(f, ENCODING_KINDS)]
    check_data_columns(df.columns, [*windowed, *encodings])
    # the `same:` pairs' helper key columns join the helper columns (one select fewer)
    prepared = _prepared(df, feature_set.label_delay_s, pair_key_columns(windowed))
    row_id = "transaction_id" if "transaction_id" in df.columns else None
    flagged = add_novelty_flags(prepared, windowed, row_id=row_id)  # novelty's derived column
    out = _entity_stages(flagged, windowed, feature_set.label_delay_s, events_source=prepared,
                         helpers=helper_prefix(df.columns))  # fmt: skip
    exprs: dict[str, Column] = {}
    if encodings:
        source = prepared if whole_history is None else _prepared(whole, feature_set.label_delay_s)
        out, encoded = add_encodings(
            out, encodings, label_delay_s=feature_set.label_delay_s, source=source, profile=profile
        )
        exprs.update(encoded)
    exprs.update({f.name: rowwise_column(f) for f in computable if isinstance(f, ROWWISE_KINDS)})
    out = _output(out, df, computable, exprs, vector_column)
    return FeatureResult(
        df=out,
        feature_names=tuple(f.name for f in computable),
        skipped=tuple(skipped),
        vector_column=vector_column,
        label_delay_s=feature_set.label_delay_s,
    )


def _prepared(df: DataFrame, label_delay_s: int, extra: Sequence[Column] = ()) -> DataFrame:
    """df + the helper columns every feature stage reads (+ `extra` columns)."""
    return df.select(
        "*",
        ts_micros().alias(TS),
        label_known_at_micros(df, label_delay_s).alias(KNOWN),
        is_fraud(df).alias(FRAUD),
        F.lit(1).alias(ROW),
        *extra,
    )


def _split_available(
    df: DataFrame, feature_set: FeatureSet, *, skip_all_null: bool, lags: bool = True,
    given: DataProfile | None = None,
) -> tuple[list[FeatureDef], list[SkippedFeature], DataProfile]:  # fmt: skip
    present = set(df.columns)
    by_case = {c.lower(): c for c in df.columns}
    delay = feature_set.label_delay_s
    lag_of = {f.name: _lag_s(f, delay) if lags else 0 for f in feature_set.features}
    profile = DataProfile()
    if skip_all_null:  # one small Spark job, unless `given` answers the same question
        ask = profile_ask(df.columns, feature_set.features, any(lag_of.values()))
        profile = given if given is not None and given.asked == ask else data_profile(df, ask)
    nulls = profile.all_null
    delay_only = "label_time" not in present or "label_time" in nulls
    computable, skipped = [], []
    for feature in feature_set.features:
        missing = tuple(c for c in feature.inputs if c not in present)
        near = tuple(by_case[c.lower()] for c in missing if c.lower() in by_case)
        empty = tuple(c for c in feature.inputs if c in nulls)
        unknown = (
            skip_all_null
            and delay_only
            and isinstance(feature, FraudRate)
            and not feature.sees_labels_without_label_time(delay)
        )
        lag_s = lag_of[feature.name]
        beyond = (
            lag_reason(lag_s, getattr(feature, "lag", None), profile)
            if lag_beyond_data(lag_s, profile)
            else ""
        )
        if missing or empty or unknown or beyond:
            skipped.append(SkippedFeature(feature.name, missing, empty, unknown, beyond, near))
        else:
            computable.append(feature)
    _warn_skipped(skipped)
    warn_log1p_below_domain(computable, profile)
    return computable, skipped, profile


def skip_ask(df: DataFrame, feature_set: FeatureSet) -> ProfileAsk:
    """What compute_features' skips ask of the data `df` (whole, lags judged): a caller's
    pass over the same rows may count it (fraud_app.features.profile.profile_fields)."""
    delay = feature_set.label_delay_s
    return profile_ask(df.columns, feature_set.features,
                       any(_lag_s(f, delay) for f in feature_set.features))  # fmt: skip


def _warn_skipped(skipped: list[SkippedFeature]) -> None:
    if skipped:
        logger.warning(
            "%d feature(s) skipped, they would be constant: their inputs are absent or "
            "entirely null in the data, their label window holds no known label, or their "
            "lag reaches before the data's first row: %s",
            len(skipped),
            ", ".join(f"{s.name} ({s.reason})" for s in skipped),
        )


def _lag_s(feature: FeatureDef, label_delay_s: int) -> int:
    """Seconds the feature's window ends before t (0: it ends at t, or no window)."""
    if not isinstance(feature, ENTITY_KINDS) or getattr(feature, "window_s", None) is None:
        return 0
    lag_s = getattr(feature, "lag_s", None)
    return lag_s(label_delay_s) if lag_s is not None else 0


def _entity_stages(
    prepared: DataFrame,
    features: list[FeatureDef],
    label_delay_s: int,
    *,
    events_source: DataFrame | None = None,
    helpers: str = "_w_",
) -> DataFrame:
    """prepared (with the pair key and novelty flag columns) + every window feature, one
    stage per partitioning column; the stages' fraud-event helper columns (`_ev_*`) and
    window helper columns (stage n's `<helpers><n>_<i>`: no stage's clash with another's)
    stay until the output's select, which names its columns, drops them (a `drop` per
    stage was one more analysis of the whole grown plan). events_source: the rows the
    fraud events are read from (default: prepared); helpers: the stages' helper prefix
    (frames.helper_prefix)."""
    stages: dict[str, list[FeatureDef]] = {}
    for feature in features:
        stages.setdefault(feature.stage_column, []).append(feature)
    out = prepared
    has_ids = "transaction_id" in prepared.columns
    for n, stage_column in enumerate(stage_order(stages)):
        members = stages[stage_column]
        entity_column = members[0].entity_column
        optional = stage_column not in REQUIRED_COLUMNS and has_ids
        out = entity_features(
            out,
            stage_column,
            members,
            label_delay_s=label_delay_s,
            events_source=prepared if events_source is None else events_source,
            row_id="transaction_id" if optional else None,
            cluster_by=entity_column if entity_column != stage_column else None,
            helpers=f"{helpers}{n}_",
            drop_helpers=False,
        )
    return out


def stage_order(stages: dict[str, list[FeatureDef]]) -> list[str]:
    """The window stages (keyed by the column they partition by) in the order they run:
    entities in the order of their first feature, each entity's own stage followed by its
    `same:` pair stages. A pair stage partitions by (entity, pair key), so right after its
    entity's stage Spark keeps that stage's partitioning and only sorts (no shuffle of
    the table); the values do not depend on the order of the stages."""
    groups: dict[str, list[str]] = {}
    for column, members in stages.items():
        groups.setdefault(members[0].entity_column, []).append(column)
    return [c for entity, cols in groups.items() for c in sorted(cols, key=lambda c: c != entity)]


def _output(
    out: DataFrame,
    df: DataFrame,
    features: list[FeatureDef],
    exprs: dict[str, Column],
    vector_column: str | None,
) -> DataFrame:
    """Passthrough columns + every feature filled and as double (+ the float vector).

    The columns that already exist by name (the window features) and the vector are
    written as SQL expressions: one JVM round trip each instead of a dozen for the same
    expression built Column by Column (`_filled`, which the Column features still use)."""
    keep = [c for c in PASSTHROUGH_COLUMNS if c in df.columns and c != PARTITION_COLUMN]
    event_date = (
        F.col(PARTITION_COLUMN) if PARTITION_COLUMN in df.columns else F.to_date(F.col("timestamp"))
    )
    values = [
        _filled(exprs[f.name], f.fill).alias(f.name)
        if f.name in exprs
        else F.expr(f"{filled_sql(f.name, f.fill)} AS {quoted(f.name)}")
        for f in features
    ]
    table = out.select(*keep, event_date.alias(PARTITION_COLUMN), *values)
    if not vector_column:
        return table
    return table.select("*", vector_sql([f.name for f in features]).alias(vector_column))


def _filled(value: Column, fill: float) -> Column:
    col = value.cast("double")
    return F.when(col.isNull() | F.isnan(col), F.lit(float(fill))).otherwise(col)


def double_sql(value: float) -> str:
    """A double literal in SQL, the same double bit for bit (repr round-trips; Spark
    reads 'inf', '-inf' and 'nan' too)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def filled_sql(name: str, fill: float) -> str:
    """`_filled(F.col(name), fill)` as SQL: the same expression."""
    col = f"CAST({quoted(name)} AS DOUBLE)"
    return f"CASE WHEN ({col} IS NULL) OR isnan({col}) THEN {double_sql(fill)} ELSE {col} END"


def vector_sql(names: Sequence[str]) -> Column:
    """`F.array(*[F.col(n).cast("float") for n in names])` in one JVM call."""
    return F.expr("array(" + ", ".join(f"CAST({quoted(n)} AS FLOAT)" for n in names) + ")")
