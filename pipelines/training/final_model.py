"""The final ensemble of a training run saved to `paths.models/<run>` (`save_final`): with
its scoring metadata (C2: the alert threshold on rows it did not train on), its features'
specs and the dates it trained on.

It does not own which rows the threshold comes from (pipelines.training.threshold), the
scoring metadata's figures (pipelines.training.nodes.scoring_metadata) or the model's
directory format (fraud_app.models).
"""

from __future__ import annotations

from pathlib import Path

from fraud_app.etl.table_read import read_table
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.provenance import TRAINED_FROM, TRAINED_THROUGH
from pipelines.training import nodes, threshold
from pipelines.training.executor_scores import threshold_input
from pipelines.training.run_context import Ensembles, RunContext
from pipelines.training.trained_dates import trained_from, trained_through
from pipelines.training.validation import scored_validation


def save_final(ctx: RunContext, trained: Ensembles, val_scores) -> Path:
    """The final ensemble saved to `paths.models/<run>` with its scoring metadata (C2), its
    features' specs and the dates it trained on."""
    config, splits, names, refit = ctx.config, ctx.splits, ctx.names, trained.refit
    ensemble = trained.final.ensemble
    # The alert threshold stored with the model (C2) is a quantile of the FINAL model's
    # scores, so it is on the scale of the scores the model will give, on rows it did not
    # train on: the test gap's (pipelines/training/threshold.py), else validation's.
    # the whole table, unlabelled rows too; read_features judged its staleness already
    table = read_table(splits.train.sparkSession, str(config.feature_table()), "feature table",
                       "features")  # fmt: skip
    gap = threshold.gap_scores(table, splits, ensemble, ctx.vector)

    def validation_scores():
        final_val = (
            scored_validation(trained.val, splits, ensemble, ctx.vector, config, figures=False)[1]
            if refit
            else val_scores
        )
        return threshold_input(final_val)  # past fits_on_driver: a GapScores

    alert_at, threshold_rows = threshold.choose(
        gap, validation_scores, splits, config.scoring.alert_budget, refit=refit is not None
    )
    ensemble.metadata["scoring"] = nodes.scoring_metadata(splits, ensemble, alert_at, config,
                                                          ctx.vector)  # fmt: skip
    ensemble.metadata["scoring"]["threshold_rows"] = threshold_rows
    # each feature's spec, so scoring can refuse a spec changed under the same name
    ensemble.metadata["features"] = {
        "definitions": definitions(feature_set_from_config(config.features), names)
    }
    # what the final weights trained on: a later run's gate compares with this model only
    # on validation days after it (pipelines.training.trained_dates.unseen_days)
    ensemble.metadata[TRAINED_THROUGH] = trained_through(splits, refit=refit is not None)
    ensemble.metadata[TRAINED_FROM] = trained_from(splits)
    model_path = ensemble.save(config.paths.local("models") / ctx.run)  # Python writes it
    ctx.lap("scoring_metadata_and_save")
    return model_path
