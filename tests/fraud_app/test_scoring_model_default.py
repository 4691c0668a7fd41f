"""scoring.model left out is `models:/<registry.model_name>@champion` (session 50), a value
derived from registry.model_name, not a setting: a config written from this one (tune's best
config, a dump of the settings given) must leave it out, so that it follows the name that
config gives later. Filled in before validation (probe50a), it was written as a setting:
the tuned config of project `a`, renamed `b`, still scored with `a`'s champion; and a
`model_copy` renaming the model kept the old name's champion (review50a). Pure config
logic: no Spark, no MLflow."""

from __future__ import annotations

from fraud_app.config import AppConfig, load_config
from pipelines.tune.space import best_config


def _config(tmp_path, **settings) -> AppConfig:
    return load_config(None, {"paths.root": str(tmp_path), **settings})


def test_the_derived_scoring_model_is_no_setting_given(tmp_path):
    config = _config(tmp_path, **{"registry.model_name": "fraud-a"})
    assert config.scoring.model == "models:/fraud-a@champion"
    assert "scoring" not in config.model_dump(mode="json", exclude_unset=True)
    # tune's best config: the settings given (with the best point), read back later
    written = best_config(config, {})
    assert "model" not in written.get("scoring", {}), written
    written["registry"]["model_name"] = "fraud-b"  # the tuned config, renamed
    assert AppConfig.model_validate(written).scoring.model == "models:/fraud-b@champion"


def test_a_copy_that_renames_the_model_follows_it(tmp_path):
    config = _config(tmp_path, **{"registry.model_name": "fraud-a", "scoring.alert_budget": 0.02})
    renamed = config.model_copy(
        update={"registry": config.registry.model_copy(update={"model_name": "fraud-b"})}
    )
    assert renamed.scoring.model == "models:/fraud-b@champion"
    assert renamed.scoring.alert_budget == 0.02  # the section's settings stay
    assert config.model_dump(mode="json", exclude_unset=True)["scoring"] == {"alert_budget": 0.02}


def test_a_given_scoring_model_is_read_as_written(tmp_path):
    given = {"registry.model_name": "fraud-a", "scoring.model": "models:/other@champion"}
    config = _config(tmp_path, **given)
    assert config.scoring.model == "models:/other@champion"
    assert config.model_dump(mode="json", exclude_unset=True)["scoring"] == {
        "model": "models:/other@champion"
    }
    assert _config(tmp_path).scoring.model == "models:/fraud-ensemble@champion"


def test_the_reference_shows_the_default_as_derived():
    """docs/CONFIG.md showed `'models:/fraud-ensemble@champion'`, the default only while
    registry.model_name is left at its own (review50a)."""
    from fraud_app.config_reference import rows

    shown = {key: default for key, default, _ in rows()}
    assert shown["scoring.model"] == "'models:/<registry.model_name>@champion'"
    assert shown["registry.model_name"] == "'fraud-ensemble'"
