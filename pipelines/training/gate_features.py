"""The promotion gate across a feature-spec change: which of this run's feature columns the
champion reads, or why it cannot be scored on this run's validation window.

A feature added to feature_specs/ between two trainings gives the new run's table a column
the champion never read: the champion is scored on its own columns of the new window (it
was not compared at all: "the champion uses other feature names"). A feature removed, or
one whose definition changed under the same name (a cap 30d -> 7d), cannot give the
champion what it learnt: not compared, and the reason names the features.
"""

from __future__ import annotations

from typing import Any

from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.scoring.model_source import changed_definitions

SHOWN = 8  # feature names listed in a reason (a tag value; the count says how many more)


def shown(names: list[str]) -> str:
    """`names` for a message: the first SHOWN, then how many more."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{names[:SHOWN]}{more}"


def champion_columns(
    config, version: str, champion_names: list[str], metadata: dict[str, Any], names: list[str]
) -> tuple[list[int] | None, str | None]:
    """(positions of the champion's features in this run's feature vector, None) when the
    champion can be scored on this run's window (None, None: the same vector); (None, why)
    when it cannot: features this run's table lacks, or whose definition changed (also
    under the same names: a cap 30d -> 7d was compared on values the champion never saw)."""
    missing = [n for n in champion_names if n not in set(names)]
    if missing:
        added = [n for n in names if n not in set(champion_names)]
        also = f"; this run's table has {len(added)} it does not read: {shown(added)}"
        return None, (
            f"champion v{version} reads {len(missing)} feature(s) this run's feature table "
            f"lacks: {shown(missing)}{also if added else ''} (the feature specs changed since it "
            "was trained), so it cannot be scored on this validation window"
        )
    changed = changed_definitions(  # the specs are read only when the champion stores some
        metadata, lambda stored: definitions(feature_set_from_config(config.features), stored)
    )
    if changed is not None:
        count, listed = changed
        return None, (
            f"the definition of {count} of champion v{version}'s features changed in the "
            f"feature specs since it was trained: {listed}; scored on this window's values it "
            "would be judged on features it never learnt"
        )
    if list(champion_names) == list(names):
        return None, None
    return [names.index(n) for n in champion_names], None


def select_columns(validation_df, features_col: str, columns: list[int]):
    """`validation_df` with its feature vector cut to `columns` (the champion's features)."""
    from pyspark.sql import functions as F

    vector = F.col(features_col)
    return validation_df.withColumn(features_col, F.array(*[vector.getItem(i) for i in columns]))
