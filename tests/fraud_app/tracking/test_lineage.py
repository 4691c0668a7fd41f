"""The feature-spec part of a run's lineage (pure: no Spark, no MLflow)."""

from __future__ import annotations

import logging

from fraud_app.features.config import FeaturesSection
from fraud_app.resources import shipped_spec_dir
from fraud_app.tracking.lineage import feature_spec_lineage, spec_digest


def test_unset_spec_dir_digests_the_shipped_specs():
    shipped = sorted(p.name for p in shipped_spec_dir().glob("*.yaml"))
    got = feature_spec_lineage(FeaturesSection())
    assert got is not None
    assert got["files"] == shipped
    assert got["digest"] == spec_digest(sorted(shipped_spec_dir().glob("*.yaml")))["digest"]
    assert "None" not in got["version"].split(",")


def test_own_spec_dir_and_a_changed_spec_changes_the_digest(tmp_path):
    spec = tmp_path / "card.yaml"
    spec.write_text("version: 3\nfeatures: []\n")
    first = feature_spec_lineage(FeaturesSection(spec_dir=str(tmp_path)))
    spec.write_text("version: 3\nfeatures: [] # edited\n")
    second = feature_spec_lineage(FeaturesSection(spec_dir=str(tmp_path)))
    assert first["files"] == ["card.yaml"] and first["version"] == "3"
    assert first["digest"] != second["digest"]


def test_unreadable_specs_give_none_and_a_warning(tmp_path, caplog):
    missing = tmp_path / "nowhere"
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.lineage"):
        assert feature_spec_lineage(FeaturesSection(spec_dir=str(missing))) is None
    assert "cannot read feature specs" in caplog.text and str(missing) in caplog.text
