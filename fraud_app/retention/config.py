"""`retention` config section: how many per-run records `fraud-app prune` keeps, per kind."""

from __future__ import annotations

from pydantic import Field

from fraud_app.config_base import Section


class KeepRule(Section):
    """What one kind keeps: the `keep_last` newest items, and every item younger than
    `max_age_days`. An item goes only when no rule keeps it; both null (the default): every
    item is kept. The newest item of each kind is always kept."""

    keep_last: int | None = Field(None, ge=1)
    max_age_days: float | None = Field(None, gt=0)

    def keeps_all(self) -> bool:
        return self.keep_last is None and self.max_age_days is None


class RetentionSection(Section):
    """What `fraud-app prune` removes (nothing runs it on its own; defaults keep everything).

    Each kind has `keep_last` and `max_age_days` (KeepRule). training_runs: a finished `train` run's `<paths.models>/<run>/`, `<paths.test_scores>/<run>/`,
    `<paths.checkpoints>/<run>/` (kept with training.keep_checkpoints), its dashboard pages
    and reports (`training-<run>.json`, `evaluation-<run>-*.json`), dated by its report. Never removed: the
    newest run, a run being trained or resumed (no report yet, or its run-name lock held), a
    run whose version holds a registry alias (champion, challenger, any other), a run whose
    directory a registered version's source or `scoring.model` names, an ensemble under
    `paths.models` without a training report (import-onnx's output, a copy).
    scoring_reports: `<paths.reports>/scoring-<job>.json`, one per `score` run; keep_last
    counts per scores table written (the `output` the report names), each one's newest kept.
    validation_reports: `validate`'s `<suite>_validation-<time>.json` + `.html`; keep_last
    counts per table validated (the `table` the report names) and each table's newest is
    kept.
    job_reports: `backtest-<run>.json` (+ its dashboard page), `tune-<run>.json` +
    `tune-<run>-best.yaml` + its trial journal, and `evaluate`'s `evaluation-<name>.json`,
    each dated by its file; keep_last counts per family (backtest, tune, evaluation).
    model_cache: `<paths.root>/model-cache/<entry>/` (registry models downloaded to score or
    evaluate; dated by their last use): an entry of a version holding an alias is kept, any
    other is downloaded again when it is next used.
    unlock_audit: `fraud-app unlock --force`'s records `<paths.root>/.fraud-app-unlock/
    <time>-<pid>.json`, each with the copies its clearing moved there (the lock file, a
    marker and the `_files.json` records), dated by the record; a file no record names
    (a clearing under way, a copy put there by hand) is kept.
    mlflow_runs: false (default): the MLflow store is left alone. true: the MLflow training
    run (and its nested runs) of each training run removed is deleted too (MLflow's
    `delete_run`: marked deleted; `mlflow gc` frees its artifacts), unless a registered
    version came from it. Scoring, evaluation, backtest and tune runs are never deleted.
    """

    training_runs: KeepRule = Field(default_factory=KeepRule)
    scoring_reports: KeepRule = Field(default_factory=KeepRule)
    validation_reports: KeepRule = Field(default_factory=KeepRule)
    job_reports: KeepRule = Field(default_factory=KeepRule)
    model_cache: KeepRule = Field(default_factory=KeepRule)
    unlock_audit: KeepRule = Field(default_factory=KeepRule)
    mlflow_runs: bool = False
