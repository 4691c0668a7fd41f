"""`scoring.alert_budgets` names each budget's figures (`recall_at_alert_0.01`, to 6
significant digits): a list holding one budget twice, or two that name alike, reported
that budget twice and logged one MLflow metric over the other (session 51). Refused when
the config is read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fraud_app.config import AppConfig


@pytest.mark.parametrize(
    ("budgets", "named"),
    [([0.01, 0.01], "0.01"), ([0.001, 0.0100000001, 0.01], "0.01"), ([0.5, 0.2, 0.5], "0.5")],
)
def test_a_budget_given_twice_is_refused(budgets, named):
    with pytest.raises(ValidationError, match=r"scoring\.alert_budgets") as caught:
        AppConfig.model_validate({"scoring": {"alert_budgets": budgets}})
    assert f"holds the budget(s) {named} more than once" in str(caught.value)


def test_budgets_apart_are_kept():
    config = AppConfig.model_validate({"scoring": {"alert_budgets": [0.001, 0.0011, 0.01]}})
    assert config.scoring.alert_budgets == (0.001, 0.0011, 0.01)
