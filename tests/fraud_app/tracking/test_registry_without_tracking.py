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
