"""A config that asks for the promotion gate (`registry.promotion_margin`, `model_name`)
with tracking.enabled: false: `train` registered nothing and no gate ran, without a word
(its lines end with no registry line). Now one WARNING before training (session 50)."""

from __future__ import annotations

import logging

from fraud_app.config import load_config
from fraud_app.tracking.ownership import check_before_training


def _warnings(caplog, tmp_path, **settings):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.ownership"):
        check_before_training(load_config(None, {"paths.root": str(tmp_path), **settings}))
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_gate_asked_for_without_tracking_is_warned_about(tmp_path, caplog):
    (line,) = _warnings(caplog, tmp_path, **{"tracking.enabled": False,
                                             "registry.promotion_margin": 0.02})  # fmt: skip
    assert line.startswith("registry.promotion_margin set, but tracking.enabled is false")
    assert "registers no version of 'fraud-ensemble' and no promotion gate runs" in line
    # not asked (the defaults), or said not to be wanted: nothing to say
    assert _warnings(caplog, tmp_path, **{"tracking.enabled": False}) == []
    assert _warnings(caplog, tmp_path, **{"tracking.enabled": False, "registry.enabled": False,
                                          "registry.model_name": "x"}) == []  # fmt: skip


def test_the_init_config_with_tracking_off_is_not_warned_about(tmp_path, caplog):
    """`fraud-app init`'s config (configs/demo.yaml) sets registry.model_name and
    registry.promotion_margin at their defaults: with tracking.enabled: false (the remedy
    an unreachable server's error names) each `train` warned that the registry was asked
    for (review50a). A value other than the default is still said."""
    from fraud_app.resources import example_config

    def warned(**settings):
        caplog.clear()
        config = load_config(example_config(), {"paths.root": str(tmp_path),
                                                 "tracking.enabled": False, **settings})  # fmt: skip
        assert config.registry.model_fields_set >= {"model_name", "promotion_margin"}
        with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.ownership"):
            check_before_training(config)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    assert warned() == []
    (line,) = warned(**{"registry.model_name": "fraud-eu"})
    assert line.startswith("registry.model_name set, but tracking.enabled is false")
