"""Entity keys of the window features, and `same:` pairs ("this card with this merchant").

Owns: the `Keyed` base (entity, `same`, the key columns a window's rows share with the
current row, the stage column the compiler partitions by, the name prefix), the name of
a pair's helper key column and its Spark expression (`pair_key_columns`). A null entity or
`same` value leaves the feature undefined (its fill); the point-in-time rules of the
windows themselves live in fraud_app.features.windows.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import field_validator, model_validator
from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.features.base import ENTITIES, Entity, FeatureDef, model_input


class Keyed(FeatureDef):
    """A feature over the entity's own transactions (card, merchant, device). With `same`
    (a column, e.g. merchant_id or device_id) only those whose value of that column equals
    the current row's: "this card with this merchant", a novelty signal (0 earlier
    transactions = the first time). A null entity or `same` value -> undefined (fill).
    The name starts `<entity>_same_<column without _id>_` (`card_same_device_count_30d`)."""

    entity: Entity = "card"
    same: str | None = None

    @field_validator("same")
    @classmethod
    def _same_column(cls, value: str | None) -> str | None:
        return None if value is None else model_input(value)

    @model_validator(mode="after")
    def _same_not_entity(self) -> Keyed:
        if self.same is not None and self.same == ENTITIES[self.entity]:
            raise ValueError(f"same must differ from the entity's column {self.same!r}")
        return self

    @property
    def entity_column(self) -> str:
        return ENTITIES[self.entity]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns whose values a window's rows share with the current row."""
        return (self.entity_column,) if self.same is None else (self.entity_column, self.same)

    @property
    def stage_column(self) -> str:
        """The column the compiler partitions by: the entity's, or a helper pair key."""
        return self.entity_column if self.same is None else pair_key_column(*self.key_columns)

    @property
    def prefix(self) -> str:
        return self.entity if self.same is None else f"{self.entity}_same_{_short(self.same)}"


def pair_key_column(*columns: str) -> str:
    """Name of the helper column holding the pair key of `columns` (`pair_key_columns`)."""
    return "_key_" + "__".join(columns)


def _short(column: str) -> str:
    return column.removesuffix("_id")


def pair_key_columns(features: Sequence[FeatureDef]) -> list[Column]:
    """One helper key column per `same:` pair of `features` (null when either value is
    null), named, for a select; a window stage partitions by it like by an entity column."""
    pairs = {
        f.stage_column: f.key_columns
        for f in features
        if isinstance(f, Keyed) and f.same is not None
    }
    return [pair_key(cols).alias(k) for k, cols in pairs.items()]


def pair_key(columns: tuple[str, ...]) -> Column:
    """One string per combination of values (JSON of the values: unambiguous), null when
    any value is null."""
    present = F.lit(True)
    for c in columns:
        present = present & F.col(c).isNotNull()
    return F.when(present, F.to_json(F.array(*[F.col(c).cast("string") for c in columns])))
