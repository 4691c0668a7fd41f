"""The champion as the promotion gate sees it: loaded, checked for comparability, scored.

Owns loading the current champion (`load_champion`: None of it, one that does not load,
one whose features this run's table lacks, an older refit without its dates) and its AP on
this run's validation window (`champion_ap`, on its unseen days only when asked). The
decision belongs to pipelines.training.gate; which dates a model trained on to
pipelines.training.trained_dates; the champion's own features within this run's vector to
pipelines.training.gate_features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.provenance import (
    TRAINED_THROUGH,
    undated_refit,
    undated_refit_words,
)
from fraud_app.models.train import evaluate_scores
from pipelines.training import nodes
from pipelines.training.gate_features import champion_columns, select_columns
from pipelines.training.trained_dates import registered_through

# the name it logged under before the session 37 split (the CLI prints %(name)s; a test
# filters on it)
logger = logging.getLogger("pipelines.training.lifecycle")


@dataclass(frozen=True)
class Champion:
    """The champion as the gate sees it: version, ensemble (None when it does not load),
    why it cannot be compared (None: it can), and the positions of its features in this
    run's feature vector when they are not the whole vector (a feature added since)."""

    version: str | None = None
    ensemble: FraudEnsemble | None = None
    why_not: str | None = None
    columns: list[int] | None = None


def load_champion(client, config, names) -> Champion:
    """The champion to compare with (an empty Champion when there is none). One that does
    not load (its run or artifacts deleted, a damaged file) or reads features this run's
    table lacks is not compared, with the reason: it failed the run after training (a
    traceback for the first; the second was "the champion uses other feature names")."""
    from fraud_app.tracking.models import resolve_model_dir
    from fraud_app.tracking.registry import current_champion

    name = config.registry.model_name
    champion = current_champion(client, name)
    if champion is None:
        return Champion()
    version = str(champion.version)
    try:
        directory = resolve_model_dir(f"models:/{name}/{version}", config=config)
        ensemble = FraudEnsemble.load(directory)
    except ModelLoadError as exc:
        return Champion(version, None, (
            f"champion v{version} does not load ({exc}), so it cannot be scored on this "
            f"validation window (`fraud-app score` of models:/{name}@champion fails the same "
            "way: promote a version that loads)"
        ))  # fmt: skip
    columns, why = champion_columns(config, version, ensemble.feature_names, ensemble.metadata,
                                    names)  # fmt: skip
    if why is not None:
        return Champion(version, ensemble, why)
    return Champion(version, ensemble, _undated_refit(champion, version, ensemble), columns)


def _undated_refit(champion, version: str, ensemble) -> str | None:
    """Why an older refit champion without `trained_through` is not compared (None: it is,
    from the day after its registration's window when that is tagged)."""
    if undated_refit(ensemble.metadata):
        # scored on a window it may have trained on (the same dates when the data did not
        # grow), it kept every retrain out: 0.6524 vs 0.8765 for the same config and data
        through = registered_through(champion)
        if through is None:
            why = (
                f"{undated_refit_words(f'champion v{version}')}: its AP on this validation "
                "window is no fair comparison, so the champion stays (a champion trained by "
                "this release records its dates); compare the two with `fraud-app evaluate` on "
                "dates neither trained on, then `fraud-app promote VERSION`"
            )
            return why
        logger.warning(
            "gate: %s; taken to have trained through %s, the day after its registration's "
            "gate.window_end %s (the date its validation window ended; the tag keeps no time "
            "of day, so that whole date counts as trained on): compared on this window's "
            "later days only",
            undated_refit_words(f"champion v{version}"), through, champion.tags["gate.window_end"],
        )  # fmt: skip
        ensemble.metadata[TRAINED_THROUGH] = through  # this process's copy only
    return None


def champion_ap(ensemble, validation_df, features_col, rows=None, unseen=None, columns=None):
    """The champion's AP on this validation window (on its unseen days only when `unseen`).

    rows: (X, labels) of the validation window as training collected them: the champion is
    scored on them in this process (no Spark job); else it is scored on `validation_df`.
    columns: the positions of the champion's features in this window's vector (None: all)."""
    if columns is not None:
        if rows is not None:
            rows = (rows[0][:, columns], rows[1])
        else:
            validation_df = select_columns(validation_df, features_col, columns)
    if rows is not None:
        X, labels = rows
        if unseen is not None:
            X, labels = X[unseen[1]], labels[unseen[1]]
        return evaluate_scores(labels, ensemble.predict_proba(X))["average_precision"]
    if unseen is not None:
        from pyspark.sql import functions as F

        validation_df = validation_df.where(F.col("event_date") >= F.lit(unseen[0]))
    scored = nodes.score(validation_df, ensemble, features_col=features_col)
    return nodes.evaluate(scored)["average_precision"]
