"""Values a spec file can hold that parse but mean nothing (session 21 probes): a boolean
or a non-finite number for a number, a duration beyond any data (it overflowed Spark's
microsecond frames)."""

from __future__ import annotations

import pytest

from fraud_app.errors import FeatureSpecError
from fraud_app.features.encoding_kinds import TargetEncoding
from fraud_app.features.spec import load_feature_set, parse_spec, spec_paths
from fraud_app.features.window_kinds import WindowAggregate

HEAD = "version: 1\nfeatures:\n  - "


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        # smoothing .inf made every encoded value the prior (a constant), .nan a NaN
        ("{kind: target_encoding, column: mcc, smoothing: .inf}", r"features\[0\]\.smoothing .*finite"),
        ("{kind: fraud_rate, window: 7d, smoothing: .nan}", r"features\[0\]\.smoothing .*finite"),
        ("{kind: column, column: amount, fill_value: .nan}", r"features\[0\]\.fill_value .*finite"),
        ("{kind: column, column: amount, fill_value: -.inf}", r"features\[0\]\.fill_value .*finite"),
        # YAML reads yes / true as booleans; pydantic took them as 1.0
        ("{kind: target_encoding, column: mcc, smoothing: yes}", r"smoothing expected a number, not the boolean true"),
        ("{kind: fraud_rate, window: 7d, prior: true}", r"prior expected a number, not the boolean true"),
        ("{kind: column, column: amount, fill_value: false}", r"fill_value expected a number, not the boolean false"),
    ],
)  # fmt: skip
def test_a_number_key_takes_a_finite_number_only(entry: str, match: str) -> None:
    with pytest.raises(FeatureSpecError, match=match):
        parse_spec(HEAD + entry + "\n", source="s.yaml")


@pytest.mark.parametrize(
    "entry",
    [
        # 6e22 s: NumberFormatException out of Spark's rangeBetween (a Py4J traceback)
        "{kind: window_agg, entity: merchant, aggregation: count, window: 99999999999999999w}",
        "{kind: window_agg, entity: card, aggregation: count, window: 1d, lag: 9999999999999d}",
        "{kind: time_since_previous, cap: 100000000000000000s}",
        "{kind: velocity_ratio, window: 1d, baseline: 99999999999999w}",
        "{kind: frequency_encoding, column: mcc, refresh: 5000000w}",
    ],
)
def test_a_duration_beyond_100_years_is_refused(entry: str) -> None:
    with pytest.raises(FeatureSpecError, match=r"at most 36500d \(100 years\)"):
        parse_spec(HEAD + entry + "\n", source="s.yaml")


def test_the_longest_duration_still_parses() -> None:
    assert WindowAggregate(aggregation="count", window="36500d").window_s == 36_500 * 86_400
    assert WindowAggregate(aggregation="count", window="5214w").window_s == 5_214 * 604_800
    assert TargetEncoding(column="mcc", smoothing=0).smoothing == 0.0


def test_a_value_listed_twice_names_both_places(tmp_path) -> None:
    # it said "features[0] defines feature 'card_count_1h', already defined by features[0]"
    spec = tmp_path / "s.yaml"
    spec.write_text(HEAD + "{kind: window_agg, entity: card, aggregations: [count, sum, count], "
                    "windows: [1h]}\n")  # fmt: skip
    with pytest.raises(FeatureSpecError, match=(
        r"s\.yaml: features\[0\] \(aggregations\[2\], windows\[0\]\) defines feature "
        r"'card_count_1h', already defined by .*s\.yaml: features\[0\] \(aggregations\[0\], "
        r"windows\[0\]\)")):  # fmt: skip
        load_feature_set([spec], label_delay_days=7)


def test_a_spec_file_listed_twice_is_named(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "{kind: calendar, part: hour_of_day}\n")
    with pytest.raises(FeatureSpecError, match=r"features\.spec_files lists .*a\.yaml twice"):
        spec_paths(tmp_path, ["a.yaml", "./a.yaml"])
