"""`etl` config section: where raw data is, how its columns map to the canonical schema."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fraud_app.config_base import Section
from fraud_app.schema import CANONICAL_COLUMNS

_CANONICAL = tuple(c.name for c in CANONICAL_COLUMNS)
EPOCH_FORMATS = ("epoch_seconds", "epoch_millis")


class EtlSection(Section):
    """Raw files -> typed, deduplicated, date-partitioned canonical Parquet + quarantine.

    columns: {canonical_name: source_column}. A canonical column not listed is looked
      for under its own name; optional ones that are absent become nulls.
    timestamp_format: a Spark datetime pattern such as 'yyyy-MM-dd HH:mm:ss', or
      'epoch_seconds' / 'epoch_millis' for numbers; None accepts ISO-8601 strings.
      Applies to `timestamp` and `label_time` strings, in the session time zone (UTC).
    format: csv, parquet or json; None = from the file extension(s) under `input`.
    input/output/quarantine: None = paths.raw / paths.canonical / paths.quarantine.
    """

    input: str | None = None
    format: Literal["csv", "parquet", "json"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    timestamp_format: str | None = None
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    output: str | None = None
    quarantine: str | None = None
    duplicate_examples: int = Field(5, ge=0, le=100)

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(_CANONICAL))
        if unknown:
            raise ValueError(
                f"etl.columns keys must be canonical column names; unknown: {unknown}. "
                f"Valid: {list(_CANONICAL)}"
            )
        empty = sorted(k for k, v in value.items() if not str(v).strip())
        if empty:
            raise ValueError(f"etl.columns maps {empty} to an empty source column name")
        sources = list(value.values())
        clash = sorted({s for s in sources if sources.count(s) > 1})
        if clash:
            raise ValueError(
                f"etl.columns maps several canonical columns to the same source {clash}"
            )
        return value

    def source_for(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)
