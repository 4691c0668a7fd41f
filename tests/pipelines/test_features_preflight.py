"""A feature spec mistake is one line before Spark starts (session 21 probe): `fraud-app
features` with `aggregation: medain` printed its error after the JVM had started (76 s at
load 26), and `run` only after the ETL and validation; a number feature of a canonical text
column (`mean` of `mcc`) is refused from the canonical schema, also before Spark."""

from __future__ import annotations

import json

import pytest

from tests.pipelines.before_spark import one_error_before_spark

SPECS = {
    "typo": ("{kind: window_agg, entity: card, aggregation: medain, window: 1h}",
             "features[0].aggregation must be one of"),
    "text column": ("{kind: window_agg, entity: card, aggregation: mean, column: mcc, window: 1h}",
                    "computes with the numbers of column 'mcc', which holds string values"),
}  # fmt: skip


@pytest.mark.parametrize("command", ["features", "run"])
@pytest.mark.parametrize("case", sorted(SPECS))
def test_a_spec_mistake_is_one_line_before_spark(tmp_path, command, case) -> None:
    entry, message = SPECS[case]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(f"version: 1\nfeatures:\n  - {entry}\n")
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"root": str(tmp_path)}, "tracking": {"enabled": False},
                                  "features": {"spec_dir": str(tmp_path / "specs")}}))  # fmt: skip
    one_error_before_spark(config, command, message)


def test_a_table_of_the_users_own_is_left_to_its_real_schema(tmp_path) -> None:
    # features.input names the user's table, whose mcc may hold integers: the canonical
    # schema (mcc a string) says nothing about it; compute_features checks its real schema.
    from fraud_app.errors import FeatureSpecError
    from fraud_app.features.config import FeaturesSection
    from fraud_app.features.pipeline import check_feature_specs

    (tmp_path / "a.yaml").write_text(f"version: 1\nfeatures:\n  - {SPECS['text column'][0]}\n")
    own = FeaturesSection(spec_dir=str(tmp_path), input=str(tmp_path / "mine"))
    assert [f.name for f in check_feature_specs(own).features]
    with pytest.raises(FeatureSpecError, match="which holds string values"):
        check_feature_specs(own.model_copy(update={"input": None}))
