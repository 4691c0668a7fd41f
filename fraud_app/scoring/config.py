"""`scoring` config section: the batch scoring job, evaluation and training-time scoring metadata.

fraud_app.scoring interprets it; the training pipeline uses `alert_budget` and
`reference_rows` to store the threshold and the drift reference with the model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from fraud_app.config_base import Section


class ScoringSection(Section):
    """How `fraud-app score` and `fraud-app evaluate` work.

    model: what `score` loads by default (a registry URI or an ensemble directory); not
      given: models:/<registry.model_name>@champion (this project's champion).
    alert_budget: share of a day's transactions the investigators can review; the
      threshold stored with the model makes the test gap (the days between validation and
      test, which no window trains on; validation when the gap is too small) raise that
      share (set at training: `score` keeps a model's threshold and warns when this
      differs).
    nonfinite: NaN/inf features -> "error" (the job fails naming rows and features) or
      "null" (null score, `invalid_features = true`).
    reasons: how many top-attributed feature names each scored row carries.
    output: where `score` writes `event_date=YYYY-MM-DD/` partitions (None = paths.scores).
    reference_rows: training-window rows sampled for the drift reference deciles.
    alert_budgets / card_k: the budgets and k that `evaluate` reports.
    features: where `score` takes the features of its rows: "auto" = the feature table's
      rows when the table is current (built from the canonical table as it is now, with
      the specs' definitions: fraud_app.scoring.table_source), else computed from the
      canonical table and its history; "recompute" = always computed.
    """

    model: str = Field("models:/fraud-ensemble@champion", min_length=1)
    alert_budget: float = Field(0.01, gt=0, lt=1)
    nonfinite: Literal["error", "null"] = "error"
    reasons: int = Field(3, ge=0, le=20)
    output: str | None = None
    reference_rows: int = Field(100_000, ge=100)
    # each a share of the window's rows in (0, 1), as alert_budget (2.0 or 0 was read as
    # every row or one row, and reported as that budget)
    alert_budgets: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = Field(
        (0.001, 0.005, 0.01), min_length=1
    )
    card_k: int = Field(100, ge=1)

    @field_validator("alert_budgets")
    @classmethod
    def _budgets_named_apart(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        # each budget names its figures (`recall_at_alert_0.01`, 6 significant digits):
        # [0.01, 0.01] or 0.01 beside 0.0100000001 reported one budget twice and logged one
        # MLflow metric over the other (session 51)
        names = [f"{b:g}" for b in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"holds the budget(s) {', '.join(twice)} more than once (as the figures name "
                "them, to 6 significant digits): give each budget once, e.g. [0.001, 0.005, 0.01]"
            )
        return value

    features: Literal["auto", "recompute"] = "auto"
