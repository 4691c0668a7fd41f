"""Feature spec parsing: names, expansion, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, FeatureSpecError
from fraud_app.features.encoding_kinds import TargetEncoding
from fraud_app.features.row_kinds import OneHot
from fraud_app.features.spec import load_feature_set, parse_spec, spec_paths
from fraud_app.features.window_kinds import (
    AmountRatio,
    FraudRate,
    TimeSincePrevious,
    WindowAggregate,
)

REPO = Path(__file__).resolve().parents[3]


def test_names_are_deterministic():
    assert (
        WindowAggregate(entity="card", aggregation="count", window="24h").name == "card_count_24h"
    )
    assert (
        WindowAggregate(entity="card", aggregation="sum", window="7d").name == "card_amount_sum_7d"
    )
    assert (
        WindowAggregate(entity="card", aggregation="max", window="1h", include_current=True).name
        == "card_amount_max_1h_incl"
    )
    assert FraudRate(entity="merchant", window="30d").name == "merchant_fraud_rate_30d"
    assert FraudRate(window="7d", mature_only=False).name == "merchant_known_fraud_rate_7d"
    assert AmountRatio().name == "card_amount_to_mean_30d"
    assert TimeSincePrevious().name == "card_seconds_since_prev"
    assert TargetEncoding(column="mcc").name == "mcc_fraud_rate"


def test_definitions_are_keyword_only_frozen_and_validated():
    with pytest.raises(TypeError):
        WindowAggregate("card", "count", "1h")  # type: ignore[misc]
    feature = WindowAggregate(aggregation="count", window="1h")
    with pytest.raises(ValidationError):
        feature.window = "2h"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="must be a duration like '1h' or '7d'"):
        WindowAggregate(aggregation="count", window="1 hour")


def test_lagged_windows_in_the_spec_language():
    from fraud_app.features.window_kinds import AmountZScore, VelocityRatio

    specs = parse_spec(
        "version: 1\nfeatures:\n"
        "  - {kind: window_agg, aggregations: [count], windows: [7d], lags: [label_delay, 2d, 0]}\n"
        "  - {kind: fraud_rate, entity: card, window: 7d, lags: [label_delay, 3d, 0]}\n",
        source="s.yaml",
    )
    names = [s.feature.name for s in specs]
    assert names == ["card_count_7d_lagdelay", "card_count_7d_lag2d", "card_count_7d",
                     "card_fraud_rate_7d", "card_fraud_rate_7d_lag3d", "card_known_fraud_rate_7d"]  # fmt: skip
    lagged = [s.feature for s in specs]
    assert [f.lag_s(604_800) for f in lagged] == [604_800, 172_800, 0, 604_800, 259_200, 0]
    assert FraudRate(entity="card", window="7d").lag_s(100) == 100  # mature_only default
    assert FraudRate(entity="card", window="7d", mature_only=False).lag_s(100) == 0
    with pytest.raises(ValidationError, match="set lag or mature_only, not both"):
        FraudRate(window="7d", lag="1d", mature_only=True)
    with pytest.raises(ValidationError, match="or a duration like"):
        WindowAggregate(aggregation="count", window="7d", lag="a week")
    with pytest.raises(ValidationError, match="include_current cannot be combined with a lag"):
        WindowAggregate(aggregation="count", window="7d", lag="1d", include_current=True)
    with pytest.raises(ValidationError, match=r"baseline \(1h\) must be longer than window \(1d\)"):
        VelocityRatio(window="1d", baseline="1h")
    assert AmountZScore(window="7d", lag="label_delay").name == "card_amount_zscore_7d_lagdelay"


def test_same_value_windows_in_the_spec_language():
    """`same: <column>`: the entity's rows sharing this row's value of the column."""
    specs = parse_spec(
        "version: 1\nfeatures:\n"
        "  - {kind: window_agg, entity: card, same: merchant_id, aggregations: [count], windows: [30d]}\n"
        "  - {kind: time_since_previous, entity: card, same: device_id}\n"
        "  - {kind: fraud_rate, entity: card, same: country, window: 7d, lag: label_delay}\n"
        "  - {kind: window_agg, entity: card, aggregations: [count], windows: [30d]}\n",
        source="s.yaml",
    )
    f = [s.feature for s in specs]
    assert [x.name for x in f] == ["card_same_merchant_count_30d", "card_same_device_seconds_since_prev",
                                   "card_same_country_fraud_rate_7d", "card_count_30d"]  # fmt: skip
    assert f[0].inputs == ("card_id", "merchant_id")
    assert f[1].inputs == ("card_id", "device_id")
    assert f[2].inputs == ("card_id", "country", "label")
    assert f[0].stage_column == "_key_card_id__merchant_id"  # the compiler's pair key
    assert f[3].stage_column == "card_id"
    with pytest.raises(ValidationError, match="must not be one of the non-feature columns"):
        WindowAggregate(aggregation="count", window="1d", same="label")
    with pytest.raises(ValidationError, match="same must differ from the entity's column"):
        TimeSincePrevious(entity="card", same="card_id")


def test_relative_window_aggregates_in_the_spec_language():
    """`relative_to: B`: the aggregate over the card's usual level (its mean over B)."""
    specs = parse_spec(
        "version: 1\nfeatures:\n"
        "  - {kind: window_agg, entity: card, aggregations: [min, std], windows: [1h], relative_to: 30d}\n"
        "  - {kind: window_agg, entity: merchant, aggregation: max, window: 1d, lag: 2d, relative_to: 7d}\n",
        source="s.yaml",
    )
    f = [s.feature for s in specs]
    assert [x.name for x in f] == ["card_amount_min_1h_to_mean_30d", "card_amount_std_1h_to_mean_30d",
                                   "merchant_amount_max_1d_lag2d_to_mean_7d"]  # fmt: skip
    assert f[0].relative_s == 30 * 86_400 and f[0].fill == 1.0  # undefined -> "usual"
    assert (
        WindowAggregate(aggregation="min", window="1h", relative_to="7d", fill_value=-1).fill == -1
    )
    assert WindowAggregate(aggregation="min", window="1h").fill == 0.0  # unchanged without it
    with pytest.raises(
        ValidationError, match="relative_to needs a numeric aggregation of `column`"
    ):
        WindowAggregate(aggregation="count", window="1h", relative_to="30d")
    with pytest.raises(ValidationError, match="must be a duration"):
        WindowAggregate(aggregation="min", window="1h", relative_to="30 days")


def test_count_distinct_and_novelty_in_the_spec_language():
    """Windows over other columns: distinct values per entity, and values new to it."""
    from fraud_app.features.novelty import Novelty

    specs = parse_spec(
        "version: 1\nfeatures:\n"
        "  - {kind: window_agg, aggregation: count_distinct, columns: [merchant_id, country], window: 24h}\n"
        "  - {kind: window_agg, entity: merchant, aggregation: count_distinct, column: card_id, window: 1h, include_current: true}\n"
        "  - {kind: novelty, entity: card, column: merchant_id, lookback: 30d}\n"
        "  - {kind: novelty, entity: card, column: device_id, lookback: 7d, windows: [1h, 24h]}\n"
        "  - {kind: novelty, entity: merchant, column: card_id, lookback: 30d, window: 1d, lag: label_delay}\n",
        source="s.yaml",
    )
    f = [s.feature for s in specs]
    assert [x.name for x in f] == [
        "card_merchant_id_count_distinct_24h", "card_country_count_distinct_24h",
        "merchant_card_id_count_distinct_1h_incl", "card_new_merchant_30d",
        "card_new_device_7d_count_1h", "card_new_device_7d_count_24h",
        "merchant_new_card_30d_count_1d_lagdelay",
    ]  # fmt: skip
    assert f[0].inputs == ("card_id", "merchant_id") and f[3].inputs == ("card_id", "merchant_id")
    assert f[3].history_s(7 * 86_400) == 30 * 86_400
    assert f[6].history_s(7 * 86_400) == (30 + 1 + 7) * 86_400
    assert f[3].flag_column == f[3].model_copy(update={"window": "1h"}).flag_column
    with pytest.raises(ValidationError, match="relative_to needs a numeric aggregation"):
        WindowAggregate(aggregation="count_distinct", column="mcc", window="1h", relative_to="7d")
    with pytest.raises(ValidationError, match="a key of the window, is always 1"):
        WindowAggregate(aggregation="count_distinct", column="card_id", window="1h")
    with pytest.raises(ValidationError, match="novelty takes no `same`"):
        Novelty(column="mcc", same="merchant_id")
    with pytest.raises(ValidationError, match="column must differ from the entity's column"):
        Novelty(entity="merchant", column="merchant_id")
    with pytest.raises(ValidationError, match="lag needs a window"):
        Novelty(column="merchant_id", lag="1d")
    with pytest.raises(ValidationError, match="must not be one of the non-feature columns"):
        Novelty(column="label")


def test_a_key_added_later_does_not_change_older_models_definitions():
    """A model trained before `relative_to` existed stored window_agg definitions without
    that key: they are unchanged (a key's absence = its None default); a changed value
    still counts."""
    from fraud_app.features.spec import definitions, diff_definitions

    fs = load_feature_set(spec_paths(REPO / "feature_specs"), label_delay_days=7)
    stored = definitions(fs, fs.names)
    assert stored["card_count_1h"]["relative_to"] is None
    older = {n: {k: v for k, v in d.items() if k != "relative_to"} for n, d in stored.items()}
    assert diff_definitions(older, definitions(fs, older)) == {}
    older["card_count_1h"]["window"] = "2h"
    assert diff_definitions(older, definitions(fs, older)) == {
        "card_count_1h": ["window: '2h' -> '1h'"]
    }


def test_one_hot_in_the_spec_language():
    """`one_hot`: one feature per listed value; integer values are read as text."""
    specs = parse_spec(
        "version: 1\nfeatures:\n  - {kind: one_hot, column: mcc, values: [5411, '5999']}\n",
        source="s.yaml",
    )
    f = [s.feature for s in specs]
    assert [x.name for x in f] == ["mcc_is_5411", "mcc_is_5999"]
    assert [x.value for x in f] == ["5411", "5999"]
    assert f[0].inputs == ("mcc",) and not f[0].uses_labels
    for bad in ("", "a b", "x" * 65, True, 1.5):
        with pytest.raises(ValidationError, match="value"):
            OneHot(column="mcc", value=bad)
    with pytest.raises(ValidationError, match="must not be one of the non-feature columns"):
        OneHot(column="label", value="1")
    # the opt-in example file (not in the shipped specs) loads beside them
    fs = load_feature_set(
        [*spec_paths(REPO / "feature_specs"), REPO / "docs" / "examples" / "one_hot.yaml"],
        label_delay_days=7,
    )
    hot = [f.name for f in fs.features if isinstance(f, OneHot)]
    assert len(hot) == 23 and hot[:2] == ["mcc_is_4111", "mcc_is_5311"] and "country_is_US" in hot
    shipped = load_feature_set(spec_paths(REPO / "feature_specs"), label_delay_days=7)
    assert not any(isinstance(f, OneHot) for f in shipped.features)


def test_one_hot_values_of_a_code_column_are_spelt_as_the_etl_publishes_them():
    """review53b: since probe53b the ETL publishes an all-digit MCC shorter than 4 digits
    padded (742 -> '0742'; countries to 3 digits). A one_hot listing 742 compared '742'
    with the table's '0742': the feature was 0 on every row, without a word. Listed codes
    are now spelt the same way; other columns and longer or lettered codes as written."""
    specs = parse_spec(
        "version: 1\nfeatures:\n"
        "  - {kind: one_hot, column: mcc, values: [742, '0742', '42', 5812, '58120', A1]}\n"
        "  - {kind: one_hot, column: country, values: [36, '4', US]}\n"
        "  - {kind: one_hot, column: channel, values: [7]}\n",
        source="s.yaml",
    )
    values = [(s.feature.column, s.feature.value) for s in specs]
    assert values == [
        ("mcc", "0742"), ("mcc", "0742"), ("mcc", "0042"), ("mcc", "5812"), ("mcc", "58120"),
        ("mcc", "A1"), ("country", "AU"), ("country", "AF"), ("country", "US"),
        ("channel", "7"),
    ]  # fmt: skip
    # a country's numeric code, padded, is then its alpha-2 code (probe54a: 036 = AU)
    assert OneHot(column="card_country", value=840).name == "card_country_is_US"
    assert OneHot(column="card_country", value="76").name == "card_country_is_BR"


def test_repo_specs_load_in_file_order():
    fs = load_feature_set(spec_paths(REPO / "feature_specs"), label_delay_days=7)
    names = fs.names
    assert names[:4] == ("card_count_1h", "card_count_24h", "card_count_7d", "card_count_30d")
    for expected in (
        "card_amount_sum_7d",
        "card_amount_mean_30d",
        "card_amount_max_1h",
        "card_amount_to_mean_30d",
        "card_seconds_since_prev",
        "merchant_count_24h",
        "merchant_fraud_rate_30d",
        "merchant_known_fraud_rate_7d",
        "mcc_freq",
        "country_fraud_rate",
        "is_cross_border",
        "hour_of_day",
        "is_weekend",
        "merchant_fraud_rate_1d",  # risk windows ending at the label delay
        "card_fraud_rate_7d",
        "card_known_fraud_rate_30d",
        "card_amount_to_mean_1d",  # spending profile
        "card_amount_zscore_30d",
        "card_count_velocity_1h_30d",
        "card_amount_velocity_1d_30d",
    ):
        assert expected in names
    assert len(set(names)) == len(names)
    assert fs.label_delay_s == 7 * 86_400


BAD_SPECS = [
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregations: [count], windows: [1h, 7 days]}\n",
        r"feature_specs/card\.yaml: features\[0\]\.windows\[1\] must be a duration like '1h' or '7d'"
        r".*Received: '7 days'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: time_since_previous}\n  - {kind: amount_ratio, window: 7 days}\n",
        r"feature_specs/card\.yaml: features\[1\]\.window must be a duration.*Received: '7 days'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: velocity}\n",
        r"feature_specs/card\.yaml: features\[0\]\.kind must be one of \['amount_ratio', .*\]\. "
        r"Received: 'velocity'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregations: [sum, median], window: 1h}\n",
        r"features\[0\]\.aggregations\[1\] must be one of \['count', 'count_distinct', 'max', 'mean', 'min', "
        r"'std', 'sum'\]\. Received: 'median'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregation: sum, windw: 1h}\n",
        # the nearest key, and the plural keys among the valid ones (they were left out)
        r"features\[0\]\.windw is not a key of kind 'window_agg' \(did you mean 'window'\?\)\. "
        r"Valid keys: \[.*'window', 'windows'\]",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregation: sum}\n",
        r"features\[0\]\.window is required for kind 'window_agg'",
    ),
    ("version: 2\nfeatures: []\n", r"feature_specs/card\.yaml: version must be 1\. Received: 2"),
    ("features:\n  - {kind: calendar, part: hour_of_day}\n", r"version must be 1\. Received: None"),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, entity: user, aggregation: count, window: 1h}\n",
        r"features\[0\]\.entity input should be 'card', 'merchant' or 'device'\. Received: 'user'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregation: sum, column: label, window: 1h}\n",
        r"features\[0\]\.column must not be one of the non-feature columns",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: fraud_rate, window: 7d, smoothing: -1}\n",
        r"features\[0\]\.smoothing input should be greater than or equal to 0\. Received: -1",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregation: sum, window: 1h, windows: [2h]}\n",
        r"features\[0\] sets both 'windows' and 'window'",
    ),
    (
        "version: 1\nfeatures:\n  - {kind: window_agg, aggregation: sum, windows: 1h}\n",
        r"features\[0\]\.windows must be a non-empty list\. Received: '1h'",
    ),
    ("version: 1\nfeatures: []\n", r"card\.yaml: features must be a non-empty list"),
    (
        "version: 1\nfeature: []\n",
        r"unknown top-level key\(s\) 'feature' \(did you mean 'features'\?\)",
    ),
    ("version: 1\nfeatures: [\n", r"feature_specs/card\.yaml: not valid YAML"),
    ("- 1\n", r"card\.yaml: must be a mapping"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_spec_errors_name_the_file_and_the_key(tmp_path, monkeypatch, text, message):
    (tmp_path / "feature_specs").mkdir()
    (tmp_path / "feature_specs" / "card.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FeatureSpecError, match=message):
        load_feature_set(["feature_specs/card.yaml"], label_delay_days=7)


def test_duplicate_names_across_files_name_both_definitions(tmp_path):
    spec = "version: 1\nfeatures:\n  - {kind: calendar, parts: [hour_of_day, is_weekend]}\n"
    (tmp_path / "a.yaml").write_text(spec)
    (tmp_path / "b.yaml").write_text(spec)
    with pytest.raises(
        FeatureSpecError,
        match=r"b\.yaml: features\[0\] \(parts\[0\]\) defines feature 'hour_of_day', already defined by .*a\.yaml: features\[0\]",
    ):
        load_feature_set(spec_paths(tmp_path), label_delay_days=1)


def test_plural_keys_expand_in_key_order():
    text = "version: 1\nfeatures:\n  - {kind: window_agg, aggregations: [count, max], windows: [1h, 1d]}\n"
    names = [s.feature.name for s in parse_spec(text, source="x.yaml")]
    assert names == ["card_count_1h", "card_count_1d", "card_amount_max_1h", "card_amount_max_1d"]


def test_missing_spec_dir_says_what_to_set(tmp_path):
    with pytest.raises(FeatureSpecError, match="features.spec_dir"):
        spec_paths(tmp_path / "nope")


def test_config_sections_validate(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("features: {label_delay_days: 3}\nsplits: {by: dates}\n")
    with pytest.raises(ConfigError, match="by: dates needs train, validation and test windows"):
        load_config(cfg)
    cfg.write_text("balancing: {strategy: smote}\n")
    with pytest.raises(ConfigError, match="unionpay_subsets"):
        load_config(cfg)
    cfg.write_text("splits:\n  by: dates\n  train: {start: 2024-02-01, end: 2024-01-01}\n")
    with pytest.raises(ConfigError, match="end must be after start"):
        load_config(cfg)
    ok = load_config(REPO / "configs" / "demo.yaml")
    assert ok.balancing.unionpay_subsets.n_subsets >= 1
