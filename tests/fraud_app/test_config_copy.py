"""`model_copy(update=...)` of a config section or a feature definition validates `update`
as a config file's values are (session 25 probes): pydantic's own took it as it was, so
`cfg.training.distributed.model_copy(update={"epochs": -3})` in a notebook kept an epoch
count no config file could give, and a section given as a dict stayed a dict."""

from __future__ import annotations

import pytest

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError
from fraud_app.features.window_kinds import WindowAggregate


def _cfg() -> AppConfig:
    return load_config(None, {"paths.root": "work", "training.distributed.epochs": 4})


@pytest.mark.parametrize(
    ("update", "said"),
    [
        ({"epochs": -3}, r"epochs: Input should be greater than 0 \(received -3\)"),
        ({"epochs": True}, r"epochs: expected a number, not the boolean true"),
        ({"epoch": 3}, r"epoch: unknown key \(received 3\); did you mean 'epochs'\?"),
    ],
)
def test_a_section_copy_validates_its_update(update, said) -> None:
    said = r"DistributedSection.model_copy\(update=...\) is invalid:\n  " + said
    with pytest.raises(ConfigError, match=said):
        _cfg().training.distributed.model_copy(update=update)


def test_a_nested_section_given_as_a_wrong_value_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"etl.mode: Input should be 'replace' or 'append'"):
        _cfg().model_copy(update={"etl": {"mode": "apend"}})


def test_a_valid_update_keeps_the_rest_and_converts_as_a_file_would() -> None:
    cfg = _cfg()
    copy = cfg.model_copy(update={"etl": cfg.etl.model_copy(update={"mode": "append"})})
    assert copy.etl.mode == "append" and copy.training.distributed.epochs == 4
    assert copy.paths.root == "work" and cfg.etl.mode == "replace"
    assert cfg.training.distributed.model_copy(update={"epochs": "5"}).epochs == 5
    assert cfg.model_copy() == cfg and cfg.model_copy(deep=True) == cfg


def test_a_feature_definition_copy_validates_its_update() -> None:
    feature = WindowAggregate(aggregation="sum", column="amount", window="1h")
    assert feature.model_copy(update={"window": "24h"}).name == "card_amount_sum_24h"
    with pytest.raises(
        ConfigError, match=r"WindowAggregate.model_copy\(update=...\) is invalid:\n  window: "
    ):
        feature.model_copy(update={"window": "7 days"})
