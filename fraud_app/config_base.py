"""The base of every config section: unknown keys are errors, values are frozen.

Its own module so each step's section model can import it without importing
fraud_app.config, which assembles all sections into AppConfig.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
