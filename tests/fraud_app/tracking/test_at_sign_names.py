"""A registered model name holding `@` (MLflow refuses `/` and `:` in a name, not `@`):
`models:/<name>@<alias>` was cut at the FIRST `@`, so `registry.model_name: fraud@eu` was
the model `fraud` in every URI, the gate's `models:/fraud@eu/1` too. The champion "did not
load" (registered model 'fraud' does not exist), so no later version was compared with it:
a far better v2 stayed `challenger`, and `score` of `@champion` failed. Real MLflow on
sqlite; the gates score collected rows (helpers.gate_on_rows), no Spark (session 50)."""

from __future__ import annotations

import pytest

from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_name_holding_an_at_sign_is_gated_and_resolved(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    name = "fraud@eu"
    cfg = h.config(tmp_path, **{"registry.model_name": name})
    validation = h.rows(300, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r1", validation)  # v1: poor
    out, _ = h.gate_on_rows(cfg, tmp_path / "b", h.linear_ensemble(2.0), "r2", validation)
    assert (out["decision"], out["champion_version"]) == ("champion", "1"), out["reason"]
    assert out["champion_ap"] is not None and out["new_ap"] > out["champion_ap"]

    for uri, version in ((f"models:/{name}@champion", "2"), (f"models:/{name}/1", "1"),
                         (f"models:/{name}/latest", "2")):  # fmt: skip
        resolved = resolve_model(uri, config=cfg)
        assert (resolved.name, resolved.version) == (name, version), uri
        assert (resolved.directory / "ensemble.json").is_file()
    with pytest.raises(Exception, match="alias 'stable' of model 'fraud@eu' does not exist"):
        resolve_model(f"models:/{name}@stable", config=cfg)
