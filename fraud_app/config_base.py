"""The base of every config section: unknown keys are errors, values are frozen.

Its own module so each step's section model can import it without importing
fraud_app.config, which assembles all sections into AppConfig.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # allow_inf_nan=False: `.inf` / `.nan` in YAML are floats; an infinite epochs, timeout
    # or learning rate was accepted and trained or waited without end (bounds such as
    # `gt=0` let +inf through). Every float key is a finite number or null.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
