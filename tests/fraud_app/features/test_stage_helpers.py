"""A window stage builds each window function once, as a helper column its features name
(fraud_app.features.frames): the select the analyzer reads holds every window function
once, not once per use (a running std repeated its first-value window 16 times). The
values are test_point_in_time's to check (every kind against the brute-force reference):
this test builds the plan and runs no Spark job."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql.classic.dataframe import DataFrame

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, parse_spec
from tests.fraud_app.features.canonical_data import frame, tricky_rows

pytestmark = pytest.mark.spark

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: merchant, aggregations: [std, mean], windows: [1d, 7d], frame: running}
  - {kind: amount_zscore, entity: merchant, window: 7d, lag: label_delay, frame: running}
  - {kind: window_agg, entity: card, aggregations: [count, max], windows: [1h, 1d]}
  - {kind: time_since_previous, entity: card}
  - {kind: fraud_rate, entity: merchant, window: 30d, mature_only: false}
"""


def test_each_window_function_is_in_the_plan_once(spark, monkeypatch):
    features = tuple(s.feature for s in parse_spec(SPEC, source="test"))
    fs = FeatureSet(features=features, label_delay_s=7 * 86_400)
    rows = tricky_rows(n=40, seed=5, days=20)
    written: list[str] = []  # every select's expressions as the compiler wrote them
    select = DataFrame.select

    def spy(self, *cols):
        written.extend(c._jc.toString() for c in cols if not isinstance(c, str))
        return select(self, *cols)

    monkeypatch.setattr(DataFrame, "select", spy)
    result = compute_features(frame(spark, rows), fs, skip_all_null=False)
    monkeypatch.undo()
    text = "\n".join(written)
    # the running std's exact sums (session 52; integer limbs since 53) need no
    # first-amount reference (a window over the whole partition, which had to be there
    # once, not once per use); each exact running sum is one helper column, in the plan once
    assert text.count("UNBOUNDED FOLLOWING") == 0, text[:3000]
    sums = [s for s in text.splitlines() if s.startswith("coalesce(sum(") and "rint(" in s]
    assert len(sums) == 32 and len(set(sums)) == 32, sums  # 8 limbs to 4 bounds
    assert not [c for c in result.df.columns if c.startswith("_w_")]


def test_columns_of_the_data_named_like_the_helpers_are_kept(spark, monkeypatch):
    """review47f: a column of the data named `_w_0` (the Python API takes any DataFrame;
    a `column` feature of it is named `_w_0` too) met the stage's helper of that name,
    `[AMBIGUOUS_REFERENCE] Reference `_w_0` is ambiguous`, and the helpers' drop would
    have taken the input column with it. The helpers take a prefix that begins no column
    of the data (here `___w_`, past `_w_0` and `__w_1`); no Spark job."""
    spec = SPEC + "  - {kind: column, column: _w_0}\n  - {kind: column, column: __w_1}\n"
    features = tuple(s.feature for s in parse_spec(spec, source="test"))
    fs = FeatureSet(features=features, label_delay_s=7 * 86_400)
    data = frame(spark, tricky_rows(n=20, seed=3, days=10))
    df = data.select("*", (F.col("amount") * 2).alias("_w_0"), F.lit(5.0).alias("__w_1"))
    made: set[str] = set()  # every column a select of the compiler made
    select = DataFrame.select

    def spy(self, *cols):
        out = select(self, *cols)
        made.update(out.columns)
        return out

    monkeypatch.setattr(DataFrame, "select", spy)
    result = compute_features(df, fs, skip_all_null=False, vector_column=None)
    monkeypatch.undo()
    assert result.feature_names == fs.names
    assert [c for c in result.df.columns if c.startswith("_")] == ["_w_0", "__w_1"]
    helpers = sorted(c for c in made - set(df.columns) if "w_" in c)
    assert helpers and all(c.startswith("___w_") for c in helpers), helpers


def test_window_stages_drop_nothing(spark, monkeypatch):
    """plan53: each window stage dropped its helper columns (`drop`: one more analysis of
    the whole grown plan per stage, ~10-40 ms each on the shared 2-core host); each stage
    now names its helpers apart (`<prefix><stage>_<i>`) and the output's select, which
    names its columns, leaves them out: no `drop` while the features are compiled, and
    none of the helpers in the result. No Spark job."""
    features = tuple(s.feature for s in parse_spec(SPEC, source="test"))
    fs = FeatureSet(features=features, label_delay_s=7 * 86_400)
    df = frame(spark, tricky_rows(n=20, seed=3, days=10))
    dropped: list[tuple] = []
    drop = DataFrame.drop

    def spy(self, *cols):
        dropped.append(cols)
        return drop(self, *cols)

    monkeypatch.setattr(DataFrame, "drop", spy)
    result = compute_features(df, fs, skip_all_null=False)
    monkeypatch.undo()
    assert dropped == []
    assert result.feature_names == fs.names
    assert [c for c in result.df.columns if c.startswith("_")] == []


def _internal_names(fs: FeatureSet) -> list[str]:
    """The names of the internal columns the compiler adds for `fs`, from the functions
    that make them (so a new kind of helper name shows up here, not only in the check)."""
    from fraud_app.features.encodings import _group_of
    from fraud_app.features.keyed import pair_key_column
    from fraud_app.features.novelty import Novelty
    from fraud_app.features.window_kinds import FraudRate
    from fraud_app.features.windows import FRAUD, KNOWN, ROW, TS, _event_column

    pairs = [f for f in fs.features if getattr(f, "same", None) is not None]
    rates = [f for f in fs.features if isinstance(f, FraudRate)]
    novel = [f for f in fs.features if isinstance(f, Novelty)]
    encoded = [f for f in fs.features if f.kind == "target_encoding"]
    assert pairs and rates and novel and encoded
    group = _group_of(encoded[0], fs.label_delay_s)
    return [
        TS, KNOWN, FRAUD, ROW,
        pair_key_column(*pairs[0].key_columns),
        novel[0].flag_column,
        _event_column(rates[0]),
        *[group.prefix(0) + s for s in ("key", "period", "n", "m", "f", "all_f")],
    ]  # fmt: skip


INTERNAL_SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, aggregations: [count], windows: [1d]}
  - {kind: fraud_rate, entity: merchant, window: 30d, mature_only: false}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 30d}
  - {kind: window_agg, entity: card, same: merchant_id, aggregations: [count], windows: [1d]}
  - {kind: target_encoding, column: mcc}
"""


def _internal_feature_set() -> FeatureSet:
    features = tuple(s.feature for s in parse_spec(INTERNAL_SPEC, source="test"))
    return FeatureSet(features=features, label_delay_s=7 * 86_400)


@pytest.mark.parametrize("upper", [False, True])
def test_input_columns_named_like_the_compilers_internal_columns_are_refused(spark, upper):
    """names47: compute_features keeps every input column and the Python API takes any
    DataFrame; an input column `_ts`, `_known`, `_fraud`, `_row`, `_key_<pair>`,
    `_new__<flag>` or `_enc0_all_f` (any case: Spark resolves names ignoring it) met the
    compiler's column of that name, `[AMBIGUOUS_REFERENCE]`; one named like a fraud rate's
    `_ev_<feature>` column was summed into the rate (merchant_known_fraud_rate_30d 0.0 ->
    2.0 on 14 of 20 rows), `_enc0_key` failed in a task (CAST_INVALID_INPUT). Now ONE
    check at the entry names them and says what to do; no Spark job (plan only)."""
    from fraud_app.errors import SchemaError

    fs = _internal_feature_set()
    data = frame(spark, tricky_rows(n=20, seed=3, days=10))
    for name in _internal_names(fs):
        name = name.upper() if upper else name
        with pytest.raises(SchemaError, match=r"rename or drop") as err:
            compute_features(data.select("*", F.lit(1).alias(name)), fs, skip_all_null=False)
        assert repr(name) in str(err.value)
    # and in the whole history the scorer passes (the encodings read it)
    with pytest.raises(SchemaError, match=r"'_Ts'"):
        compute_features(data, fs, whole_history=data.select("*", F.lit(1).alias("_Ts")),
                         skip_all_null=False)  # fmt: skip


def test_the_canonical_and_passthrough_columns_are_not_internal_names():
    """The workflow's data (the canonical table, fraud_app.schema, its partition column and
    the feature table's passthrough columns) never meets the check; nor do columns that
    only begin with an underscore (`_w_0` is test_columns_of_the_data_named_like_...'s)."""
    from fraud_app.features.compile import HELPER_COLUMNS, PASSTHROUGH_COLUMNS
    from fraud_app.features.frames import check_internal_names
    from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

    check_internal_names([c.name for c in CANONICAL_COLUMNS])
    check_internal_names([*PASSTHROUGH_COLUMNS, PARTITION_COLUMN, "features"])
    check_internal_names(["_e", "_tsx", "_enc_x", "_enck_1", "_new_x", "_w_0", "x_ts"])
    assert set(HELPER_COLUMNS) == {"_ts", "_known", "_fraud", "_row"}
