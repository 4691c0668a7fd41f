"""What a training run reads of the feature table: its labelled rows and feature names
(`read_features`, shared with tune and backtest), and the short history of the split's
windows from the table's timeline (`train_history`).

It does not own the table's layout or staleness check (fraud_app.features.table), the time
splits (pipelines.training.nodes.split) or the timeline's rules (fraud_app.timeline).
"""

from __future__ import annotations

import logging

from fraud_app.config import AppConfig
from fraud_app.features.table import read_feature_metadata, read_labelled
from fraud_app.timeline import (
    dates_within,
    window_dates_line,
    window_history,
    window_history_level,
    window_history_line,
)

# the name it logged under before the session 37 split of pipelines/training/pipeline.py
# (the CLI prints %(name)s; test_timeline_gaps filters on it)
logger = logging.getLogger("pipelines.training.pipeline")


def read_features(spark, config: AppConfig, step: str = "train", *, labelled_only: bool = True):
    """(the labelled rows of the feature table, ordered feature names); a clear error when
    `features` has not run. Rows whose label is not known yet are left out (and counted
    in the log): train, tune and backtest never read them as normals. labelled_only=False
    (train): every row, for `split_by_time`, which leaves them out of its windows itself
    and counts them per window (a validation or test window holding some: a WARNING)."""
    df, names = read_labelled(
        spark, config.feature_table(), config.canonical_table(), step, filtered=labelled_only
    )
    check_table_specs(spark, config, names, step)
    return df, names


def check_table_specs(spark, config: AppConfig, names: list[str], step: str) -> None:
    """FeatureSpecError when the feature table computed its features otherwise than the
    config's specs and label delay define them now: a spec edited, or `features
    --label-delay-days 3` under a config of 7, since the table was built. `train` learned
    the table's values and recorded the specs' definitions with the model, so `score`
    (which computes the specs' values) and `evaluate` met no mismatch: the model scored
    values it never learned, without a word (probe51d). Tables that record no definitions
    (older releases, hand-written ones) are not judged."""
    from fraud_app.errors import FeatureSpecError
    from fraud_app.features.pipeline import feature_set_from_config
    from fraud_app.features.spec import table_differences

    path = config.feature_table()
    problem = table_differences(
        read_feature_metadata(path, spark), feature_set_from_config(config.features), names
    )
    if problem:
        raise FeatureSpecError(
            f"{step}: the feature table {path} was built from other feature definitions than "
            f"the config's specs give now: {problem}. The model would learn the table's values "
            "under the specs' definitions; run `fraud-app features` with this config first "
            "(it rebuilds what changed), or give the config the specs and "
            "features.label_delay_days the table was built with"
        )


def train_history(spark, config: AppConfig, splits) -> None:
    """The training window's rows whose window features read short history (the data's
    first days, incomplete dates: fraud_app.timeline), in the split summary (`history` of
    the train window) and one line when they are many (a WARNING for incomplete dates,
    INFO for the warm-up alone: fraud_app.timeline.window_history_level)."""
    timeline = read_feature_metadata(config.feature_table(), spark).get("timeline")
    history = window_history(splits.train, timeline)
    splits.summary["windows"]["train"]["history"] = history
    line = window_history_line("training", history)
    if line:
        logger.log(window_history_level(history), "%s", line)
    for w in splits.windows[1:]:  # validation and test: the dates they hold
        thin = dates_within(timeline, w.start, w.end)
        splits.summary["windows"][w.name]["incomplete_dates"] = [t.to_dict() for t in thin]
        if thin:
            logger.warning("%s", window_dates_line(w.name, w.start, w.end, thin))
