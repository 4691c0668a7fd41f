"""Requests the batch scoring job refuses with one clear error: an empty range, dates
without transactions, a missing model or table, a model whose features the specs do not
compute as it was trained (the `trained` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from dlcore.serialization import seal
from fraud_app.errors import ConfigError, EmptyInputError, ModelLoadError, ScoringInputError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.job_data import ROOT, job_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_feature_name_mismatch_names_missing_and_extra(spark, trained, tmp_path):
    model = tmp_path / "renamed"
    shutil.copytree(trained["model"], model)
    spec = json.loads((model / "ensemble.json").read_text())
    spec["feature_names"][0] = "card_velocity_9y"
    (model / "ensemble.json").write_text(json.dumps(seal(spec)))  # renamed, not damaged
    real = trained["report"]["feature_names"][0]
    day = trained["day"]
    with pytest.raises(
        ScoringInputError,
        match=rf"missing from the specs \['card_velocity_9y'\].*extra in the specs \['{real}'\]",
    ):
        run_scoring(spark, trained["config"], start=day, end=day, model_uri=str(model))


def test_bad_requests_fail_with_one_clear_error(spark, trained, tmp_path):
    config, day, model = trained["config"], trained["day"], trained["model"]
    with pytest.raises(ConfigError, match="empty date range"):
        run_scoring(spark, config, start=day, end=day - dt.timedelta(days=1), model_uri=model)
    far = day + dt.timedelta(days=400)
    with pytest.raises(EmptyInputError, match=f"no transactions dated {far}..{far}"):
        run_scoring(spark, config, start=far, end=far, model_uri=model)
    with pytest.raises(ModelLoadError, match="does not exist"):
        run_scoring(spark, config, start=day, end=day, model_uri=str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="holds no ensemble.json"):
        run_scoring(spark, config, start=day, end=day, model_uri=str(tmp_path))
    missing = job_config(tmp_path, **{"features.input": str(tmp_path / "no-canonical")})
    with pytest.raises(EmptyInputError, match="canonical table .*no-canonical does not exist; "
                       "run `fraud-app etl` first"):  # fmt: skip
        run_scoring(spark, missing, start=day, end=day, model_uri=model)


def test_a_feature_spec_changed_under_the_same_name_is_refused(spark, trained, tmp_path):
    """time_since_previous's cap 30d -> 7d keeps the name card_seconds_since_prev: the job
    scored the new values with the model trained on the old ones, exit 0."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "feature_specs", specs)
    velocity = specs / "card_velocity.yaml"
    assert "    cap: 30d\n" in velocity.read_text()
    velocity.write_text(velocity.read_text().replace("    cap: 30d\n", "    cap: 7d\n"))
    config = job_config(trained["root"], **{"features.spec_dir": str(specs)})
    day = trained["day"]
    stored = FraudEnsemble.load(trained["model"]).metadata["features"]["definitions"]
    assert stored["card_seconds_since_prev"]["cap"] == "30d"
    with pytest.raises(
        ScoringInputError,
        match=r"definition of 1 of the model's features changed .*: card_seconds_since_prev "
        r"\(cap: '30d' -> '7d'\)",
    ):
        run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
