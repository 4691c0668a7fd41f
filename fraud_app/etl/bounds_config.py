"""`etl.bounds` config section: the plausibility bounds of a row's amount and times
(EtlBounds, validated: finite amounts in order, naive timestamps in order).

Does not own the rules that quarantine a row outside them (fraud_app.etl.rules) or the
rest of the `etl` section (fraud_app.etl.config).
"""

from __future__ import annotations

import datetime as dt
import math

from pydantic import Field, model_validator

from fraud_app.config_base import Section


class EtlBounds(Section):
    """Plausibility bounds (inclusive); a row outside them is quarantined with a reason.

    min_amount: 0 accepts zero-amount authorisations (card verification); raise it to
      e.g. 0.01 to quarantine them. A negative value admits refunds: a feature spec's
      `transform: log1p` of amount is then refused when it is <= -1 (log1p is undefined
      there; use `signed_log1p`). max_amount: far above any real card payment in any
      currency, so it only catches absurd values such as 1e308 (validation's
      max_amount is the tighter business check).
    min_timestamp / max_timestamp: bounds of `timestamp` and `label_time` (naive = UTC).
    max_future_hours: a `timestamp` more than this many hours after the ETL run's own clock
      (UTC) is quarantined as `timestamp_in_future` (a device clock or a typo; one such row
      moved the default split windows years ahead); None turns the check off. `label_time`
      may lie in the future (a label not known yet).
    """

    min_amount: float = 0.0
    max_amount: float = 1e10
    min_timestamp: dt.datetime = dt.datetime(1970, 1, 1)
    max_timestamp: dt.datetime = dt.datetime(2100, 1, 1)
    max_future_hours: float | None = Field(24.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> EtlBounds:
        if not (math.isfinite(self.min_amount) and math.isfinite(self.max_amount)):
            raise ValueError("etl.bounds.min_amount and max_amount must be finite numbers")
        if self.min_amount > self.max_amount:
            raise ValueError(
                f"etl.bounds.min_amount ({self.min_amount}) must be <= max_amount ({self.max_amount})"
            )
        if self.min_timestamp.tzinfo or self.max_timestamp.tzinfo:
            raise ValueError("etl.bounds timestamps must be naive (they are read as UTC)")
        if self.min_timestamp >= self.max_timestamp:
            raise ValueError(
                f"etl.bounds.min_timestamp ({self.min_timestamp}) must be before "
                f"max_timestamp ({self.max_timestamp})"
            )
        return self
