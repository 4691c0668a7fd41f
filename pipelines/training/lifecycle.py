"""The model lifecycle around a training run: baselines, tracking, registry + promotion gate.

Called by pipeline.run_training; each function takes the tracker (a NullTracker when
tracking is off) so the training code never branches on whether MLflow is in use.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fraud_app.baselines.spark import Baseline, add_scores, train_baselines
from fraud_app.config import AppConfig
from fraud_app.errors import ModelLoadError
from fraud_app.evaluation.spark_train import columns_figures
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.provenance import (
    TRAINED_THROUGH,
    undated_refit,
    undated_refit_words,
)
from fraud_app.models.train import evaluate_scores
from fraud_app.scoring.tasks import task_errors
from fraud_app.tracking.registry import (
    GateDecision,
    decide,
    register_decided,
    undefined,
)
from fraud_app.tracking.store_lock import store_lock
from pipelines.training import nodes
from pipelines.training.gate_features import champion_columns, select_columns, shown

logger = logging.getLogger(__name__)


def columns_metrics(scored_df, columns: list[str], label_col: str = "label") -> dict[str, dict]:
    """Metrics of several score columns of one window (fraud_app.evaluation.spark_train:
    collected, or past `fits_on_driver` computed on the executors)."""
    with task_errors():
        return columns_figures(scored_df, columns, label_col)


def fit_baselines(splits, config: AppConfig, tracker, *, features_col: str) -> list[Baseline]:
    """Train the MLlib baselines and score them on the validation window. Their test
    metrics come from the run's scored test window (`finish_baselines`), which carries
    their scores anyway: the test window is not scored twice."""
    baselines = train_baselines(splits.train, config.baselines, features_col=features_col)
    if baselines:
        scored = add_scores(splits.validation, baselines, features_col=features_col)
        got = columns_metrics(scored, [b.column for b in baselines])
        for b in baselines:
            b.metrics["validation"] = got[b.column]
    return baselines


def finish_baselines(baselines: list[Baseline], scored_test, tracker) -> None:
    """Test metrics from the scored test window (its `baseline_<name>` columns), then one
    nested run per baseline."""
    if baselines:
        got = columns_metrics(scored_test, [b.column for b in baselines])
        for b in baselines:
            b.metrics["test"] = got[b.column]
    for b in baselines:
        tracker.log_baseline(
            b.name, {**b.params, "rows": b.rows, "seconds": round(b.seconds, 2)}, b.metrics
        )


def baselines_report(baselines: list[Baseline]) -> dict[str, Any]:
    return {
        b.name: {**b.metrics, "rows": b.rows, "seconds": round(b.seconds, 2)} for b in baselines
    }


def example_rows(df, features_col: str, n: int = 5) -> np.ndarray:
    rows = df.select(features_col).limit(n).collect()
    return np.asarray([r[0] for r in rows], dtype=np.float64)


def _window(w) -> dict[str, str]:
    return {"start": w.start.date().isoformat() if w.start else "", "end": w.end.date().isoformat()}


def trained_through(splits, refit: bool) -> str:
    """The (exclusive) end of the last time window whose labelled rows trained the final
    weights: validation's after a refit on train + validation, else train's. Stored in the
    model's metadata: a later run's gate compares with this model only on validation rows
    from that point on (`unseen_days`)."""
    return splits.windows[1 if refit else 0].end.isoformat()


def trained_from(splits) -> str | None:
    """The start of the train window (None: unbounded, the first rows of the data); with
    `trained_through`, `evaluate` names the window dates the model may have learnt."""
    start = splits.windows[0].start
    return None if start is None else start.isoformat()


def unseen_days(champion: FraudEnsemble, scores) -> tuple[dt.date, np.ndarray] | None:
    """(first day, row mask) of this validation window's days that the champion did not
    train on, when it trained on some of them (a refit champion of an earlier run whose
    windows overlap this one's: scored on rows it learnt, it looked better than it is);
    None when it trained on none of them, or that is not known (a model without
    `trained_through`, or validation scores without event_date)."""
    through = champion.metadata.get(TRAINED_THROUGH)
    if not through or scores is None or "event_date" not in scores:
        return None
    t = dt.datetime.fromisoformat(str(through))
    first = t.date() if t.time() == dt.time() else t.date() + dt.timedelta(days=1)
    mask = np.asarray(scores["event_date"], dtype="datetime64[D]") >= np.datetime64(first)
    return None if mask.all() else (first, mask)


@dataclass(frozen=True)
class _Champion:
    """The champion as the gate sees it: version, ensemble (None when it does not load),
    why it cannot be compared (None: it can), and the positions of its features in this
    run's feature vector when they are not the whole vector (a feature added since)."""

    version: str | None = None
    ensemble: FraudEnsemble | None = None
    why_not: str | None = None
    columns: list[int] | None = None


def _load_champion(client, config, names) -> _Champion:
    """The champion to compare with (an empty _Champion when there is none). One that does
    not load (its run or artifacts deleted, a damaged file) or reads features this run's
    table lacks is not compared, with the reason: it failed the run after training (a
    traceback for the first; the second was "the champion uses other feature names")."""
    from fraud_app.tracking.models import resolve_model_dir
    from fraud_app.tracking.registry import current_champion

    name = config.registry.model_name
    champion = current_champion(client, name)
    if champion is None:
        return _Champion()
    version = str(champion.version)
    try:
        directory = resolve_model_dir(f"models:/{name}/{version}", config=config)
        ensemble = FraudEnsemble.load(directory)
    except ModelLoadError as exc:
        return _Champion(version, None, (
            f"champion v{version} does not load ({exc}), so it cannot be scored on this "
            f"validation window (`fraud-app score` of models:/{name}@champion fails the same "
            "way: promote a version that loads)"
        ))  # fmt: skip
    columns, why = champion_columns(config, version, ensemble.feature_names, ensemble.metadata,
                                    names)  # fmt: skip
    if why is not None:
        return _Champion(version, ensemble, why)
    return _Champion(version, ensemble, _undated_refit(champion, version, ensemble), columns)


def _undated_refit(champion, version: str, ensemble) -> str | None:
    """Why an older refit champion without `trained_through` is not compared (None: it is,
    from the day after its registration's window when that is tagged)."""
    if undated_refit(ensemble.metadata):
        # scored on a window it may have trained on (the same dates when the data did not
        # grow), it kept every retrain out: 0.6524 vs 0.8765 for the same config and data
        through = _registered_through(champion)
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


def _registered_through(champion) -> str | None:
    """An older champion's trained_through from its registration: the day after the
    `gate.window_end` tag (the date its validation window ended, exclusive when at
    midnight; the tag keeps no time of day, so the whole date counts as trained on, at
    worst one unseen day less to compare on). None without the tag."""
    end = (getattr(champion, "tags", None) or {}).get("gate.window_end")
    try:
        day = dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).isoformat()


def _champion_ap(ensemble, validation_df, features_col, rows=None, unseen=None, columns=None):
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


# The validation window's feature matrix is collected for the gate (and the logged model's
# input example) only up to this many values (4 bytes each); larger windows are scored by Spark.
GATE_MATRIX_MAX_VALUES = 50_000_000


def collect_gate_rows(tracker, splits, names: list[str]) -> bool:
    """Whether training's validation collect should bring the feature matrix for the gate."""
    rows = splits.summary["windows"]["validation"]["rows"]
    return bool(tracker.enabled) and rows * len(names) <= GATE_MATRIX_MAX_VALUES


@dataclass(frozen=True)
class GateContext:
    """What the model's logging and the promotion gate read of a training run.

    new_ap: the new model's validation AP; rows: (X, labels) of the validation window
    (nodes.ValidationWindow.gate_rows): the champion is scored on them on the tracking
    thread, with no Spark job beside training; None: by a Spark job on splits.validation.
    scores: the new model's validation scores with the window's columns (label,
    fraud_score, event_date), in the order of `rows`; they let both be compared on the
    champion's unseen days only."""

    config: AppConfig
    names: list[str]
    splits: Any
    new_ap: float | None
    features_col: str
    rows: tuple[np.ndarray, np.ndarray] | None = None
    scores: dict[str, Any] | None = None


# -- the jobs below run on the tracking thread (queued by start_model_logging) ------------
def _log_model(tracker, model_dir, ctx: GateContext):
    if ctx.rows is not None:
        example = np.asarray(ctx.rows[0][:5], dtype=np.float64)
    else:
        example = example_rows(ctx.splits.validation, ctx.features_col)
    return tracker.log_model_on_thread(model_dir, ctx.names, example)


def _defined(ap: float | None) -> float | None:
    """An AP, or None when it is undefined (NaN: recorded as undefined)."""
    return None if undefined(ap) else ap


def _gate(tracker, ctx: GateContext) -> GateDecision:
    """The decision (version not yet known): the champion scored on this validation window,
    or on its days after the champion's training data when it trained on some of them."""
    reg = ctx.config.registry
    window = _window(ctx.splits.windows[1])
    loaded = _load_champion(tracker.client, ctx.config, ctx.names)
    version, champion, why_not = loaded.version, loaded.ensemble, loaded.why_not
    new_ap = _defined(ctx.new_ap)
    undefined_new = new_ap is None
    unseen = None if version is None or why_not else unseen_days(champion, ctx.scores)
    champ_ap = None
    if unseen is not None:
        window = {**window, "start": unseen[0].isoformat(),
                  "champion_trained_through": str(champion.metadata[TRAINED_THROUGH])}  # fmt: skip
        new_ap = _unseen_ap(ctx.scores, unseen[1])
    if version is not None and not why_not and (unseen is None or new_ap is not None):
        champ_ap = _champion_ap(champion, ctx.splits.validation, ctx.features_col, ctx.rows,
                                unseen, loaded.columns)  # fmt: skip
        champ_ap = _defined(champ_ap)
    if why_not:
        alias = "challenger"
        reason = (
            f"not compared: {why_not}; the champion stays (compare the two with `fraud-app "
            "evaluate`, then `fraud-app promote VERSION` if wanted)"
        )
        logger.warning("promotion gate: %s", reason)
    elif unseen is not None and new_ap is None:
        alias, reason = "challenger", _no_fair_comparison(version, champion, unseen, window,
                                                          ctx.scores)  # fmt: skip
    else:
        alias, reason = decide(new_ap, champ_ap, reg.promotion_margin,
                               champion=version is not None,
                               promote_undefined=reg.promote_undefined_ap)  # fmt: skip
        if unseen is not None:
            reason += (
                f" (compared on {unseen[0]}..{window['end']} only: champion v{version} trained "
                f"on the window's earlier days)"
            )
        reason += _columns_note(loaded, ctx.names)
    if new_ap is None and not why_not:
        logger.warning("promotion gate: %s", reason)
    return GateDecision(reg.model_name, "", alias, reg.promotion_margin, new_ap, champ_ap,
                        version, window, reason,
                        validation_ap_undefined=undefined_new)  # fmt: skip


def _columns_note(loaded: _Champion, names: list[str]) -> str:
    """What the reason adds when the champion was scored on its own columns of the window."""
    if loaded.columns is None:
        return ""
    own = loaded.ensemble.feature_names
    added = [n for n in names if n not in set(own)]
    what = f"this run added {len(added)}: {shown(added)}" if added else "in its own order"
    return f" (champion v{loaded.version} scored on its own {len(own)} features; {what})"


def _unseen_ap(scores, mask: np.ndarray) -> float | None:
    """The new model's AP on the champion's unseen days (None: no such row, or undefined)."""
    if not mask.any():
        return None
    labels = np.asarray(scores["label"])[mask]
    return _defined(
        evaluate_scores(labels, np.asarray(scores["fraud_score"])[mask])["average_precision"]
    )


def _no_fair_comparison(version, champion, unseen, window, scores) -> str:
    """Why the gate did not compare: the champion trained on the window's earlier days and
    its later days hold no fair comparison."""
    first, mask = unseen
    labels = np.asarray(scores["label"])[mask]
    frauds, through = int(np.sum(labels == 1)), champion.metadata[TRAINED_THROUGH]
    left = (  # an empty range read "the days from 2024-02-18 to 2024-02-18 hold 0 rows"
        f"the days from {first} to {window['end']} hold {int(mask.sum())} rows and {frauds} "
        "frauds, no fair comparison"
        if mask.any()
        else "no day of the window is left that it did not train on"
    )
    return (
        f"not compared: champion v{version} trained on this validation window's rows "
        f"before {first} (trained through {through}); {left}; the champion stays "
        "(lengthen splits.validation_days or promote by hand: fraud-app promote VERSION)"
    )


def _register(tracker, logged_f, gate_f, ctx: GateContext) -> dict[str, Any]:
    """Register with the gate's decision and move its alias, checked: when the champion
    moved since the gate scored it (another run's gate or a `promote` in between), the gate
    runs again against the champion now in place (registry.register_decided); else the
    alias went to whichever run registered last, even a worse one. On an embedded sqlite
    store this holds the store's lock (one process of this machine at a time between the
    check and the move); a tracking server keeps the window of one request (README)."""
    logged, d = logged_f.result(), gate_f.result()  # both done: queued before this job
    with store_lock(tracker.store.uri, ctx.config.tracking.flush_timeout_s, "promotion gate"):
        d = register_decided(tracker.client, logged.model_uri, d, lambda: _gate(tracker, ctx))
    out = {**d.to_dict(), "model_uri": logged.model_uri,
           "registered_uri": f"models:/{d.name}/{d.version}"}  # fmt: skip
    tracker.log_dict(out, "registry.json")  # queued after this job
    tracker.set_tags({f"gate.{k}": v for k, v in d.to_dict().items() if k != "window"})
    tracker.log_window_metrics({"gate": {"new_ap": d.new_ap, "champion_ap": d.champion_ap}})
    return out


def start_model_logging(tracker, model_dir, ctx: GateContext):
    """Queue the model's logging and the promotion gate's scoring of the champion (C6
    "registry"), not the registration; what register_and_gate takes.

    Both run on the tracking thread, so the pipeline calls this as soon as the model is
    saved and scores the test window meanwhile; register_and_gate takes what this returns
    and only then queues the registration and the alias move, once every step before it
    has succeeded. (Queued here, the registration ran even when the test window's scoring
    failed after it: the run exited 2 as FAILED, its model already `champion`, because a
    failed run's tracker still runs what is queued when it flushes.) None when tracking is
    off.
    """
    if not tracker.enabled:
        return None
    logged = tracker.submit("log_model", _log_model, tracker, model_dir, ctx)
    if not ctx.config.registry.enabled:
        return logged, None, None
    return logged, tracker.submit("gate", _gate, tracker, ctx), ctx


def register_and_gate(tracker, pending) -> dict[str, Any] | None:
    """Register the logged pyfunc model with the promotion gate's decision; wait for the
    outcome. pending: what start_model_logging returned.

    Gate: the new version and the current `champion` are both scored on this run's
    validation window (GateContext.new_ap is the new model's); the new version is
    registered with its gate tags (one request) and then given its alias. Call it when
    nothing that can fail remains before the registration: a run that fails before it
    registers nothing.
    """
    if not tracker.enabled:
        return None
    logged, gate, ctx = pending
    if gate is None:
        return {"model_uri": tracker.result(logged, "log_model").model_uri}
    registered = tracker.submit("register", _register, tracker, logged, gate, ctx)
    return tracker.result(registered, "register")


def log_run_artifacts(tracker, config: AppConfig, names: list[str], report_path: Path) -> None:
    """Feature names, the newest data-validation report of each table (JSON and HTML), and
    the training report."""
    tracker.log_feature_names(names)
    for p in newest_validation_reports(config.paths.resolve("reports")):
        tracker.log_artifact_file(p, "validation")
    tracker.log_artifact_file(report_path)


def newest_validation_reports(reports: Path) -> list[Path]:
    """The newest `<suite>_validation-<run>.json` of each suite and its `.html`. The glob
    `*_validation.*` matched none of the names `validate` writes since reports are kept
    per run, so no run logged its validation reports."""
    newest: dict[str, Path] = {}
    for p in sorted(reports.glob("*_validation-*.json")) if reports.is_dir() else []:
        suite = p.name.split("_validation-", 1)[0]
        if suite not in newest or p.stat().st_mtime >= newest[suite].stat().st_mtime:
            newest[suite] = p
    found = []
    for p in (newest[suite] for suite in sorted(newest)):
        found += [q for q in (p, p.with_suffix(".html")) if q.is_file()]
    return found
