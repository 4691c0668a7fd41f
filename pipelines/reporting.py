"""Dashboards for the workflow: maps the app config to dashboards.Sources and renders.

`render_dashboards` raises (for `fraud-app dashboards`); `render_dashboards_safely` is
what `run`, `train` and `score` call at their end (score: `scoring_summary=result.summary`): a rendering failure is logged and
never fails the step. Both return the written files (pages and the shared
`assets/plotly-<version>.min.js` they load), so a caller can log them to MLflow as run
artifacts: the run's artifacts keep the layout, one plotly.js copy per MLflow run.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from dashboards import DashboardOptions, Sources, render_all, render_backtest, render_index
from dashboards.sources import belongs_to, list_runs, read_json
from fraud_app.card_masking import shown_value
from fraud_app.config import AppConfig
from fraud_app.uris import local_path, redacted

logger = logging.getLogger(__name__)


def _tables(config: AppConfig) -> dict[str, tuple[str, str]]:
    """The tables the pages read with pyarrow: input -> (setting, place as Spark names it)."""
    etl, features = config.etl, config.features
    canonical, quarantine = config.etl_tables()
    return {
        "scores": ("paths.test_scores", config.paths.resolve("test_scores")),
        "canonical": ("etl.output" if etl.output else "paths.canonical", canonical),
        "quarantine": ("etl.quarantine" if etl.quarantine else "paths.quarantine", quarantine),
        "features": ("features.output" if features.output else "paths.features",
                     config.feature_table()),
    }  # fmt: skip


def dashboard_sources(config: AppConfig) -> Sources:
    """The pages' inputs; a table on remote storage (a URI root's, an `hdfs://` etl.output)
    is None with a line in `elsewhere` saying why: before, its URI was read as a local
    folder (`hdfs:/nn:8020/...`) that never exists, and its sections were left out unsaid."""
    paths = config.paths
    reports = paths.local("reports")
    found, elsewhere = {}, {}
    for name, (setting, place) in _tables(config).items():
        found[name] = local_path(place)  # a `file:` URI as its local path
        if found[name] is None:
            elsewhere[name] = (
                f"{setting} {redacted(place)!r} is on remote storage; the dashboards read "
                "tables with pyarrow on this machine only, so what needs it is not drawn"
            )
    return Sources(reports=reports, output=reports / "dashboards", models=paths.local("models"),
                   elsewhere=elsewhere, **found)  # fmt: skip


def dashboard_options(config: AppConfig) -> DashboardOptions:
    budget = getattr(getattr(config, "scoring", None), "alert_budget", None)
    # the quarantine keeps each input column as `raw_<name>` (fraud_app.etl.outputs)
    cards, ids = ({name, f"raw_{name}", f"raw_{config.etl.source_for(name)}"}
                  for name in ("card_id", "transaction_id"))  # fmt: skip
    # the row's key is kept whole (a numeric id passes the Luhn check one time in ten)
    shown = shown_value(cards, ids) if config.privacy.card_numbers == "masked" else None
    options = DashboardOptions(shown_value=shown)
    return replace(options, alert_budget=budget) if budget else options


def index_path(config: AppConfig) -> Path:
    return dashboard_sources(config).output / "index.html"


def render_dashboards(
    config: AppConfig,
    run: str | None = None,
    *,
    scoring_summary: dict[str, Any] | None = None,
    unreadable: list[str] | None = None,
) -> list[Path]:
    """Pages of `run`, or of the runs whose model a scoring summary (C3: model_uri,
    model_name, model_version) is about, or of every run. `unreadable`: gets a line per
    input that could not be read (dashboards.render.render_all)."""
    sources = dashboard_sources(config)
    for line in sources.elsewhere.values():  # also where no run is drawn (render_index only)
        logger.warning("dashboards: %s", line)
    if run is not None:
        runs = [run]
    elif scoring_summary is not None:
        doc = scoring_summary
        runs = [
            r for r in list_runs(sources)
            if belongs_to(doc, r, read_json(sources.reports / f"training-{r}.json"))
        ]  # fmt: skip
    else:
        runs = None
    if runs == []:
        return [render_index(sources)]
    return render_all(sources, runs, dashboard_options(config), unreadable=unreadable)


def render_dashboards_safely(
    config: AppConfig, run: str | None = None, *, scoring_summary: dict[str, Any] | None = None
) -> list[Path]:
    """render_dashboards, but a failure is logged (with its traceback) and returns []."""
    try:
        written = render_dashboards(config, run, scoring_summary=scoring_summary)
    except Exception:  # rendering is a by-product: it must never fail the workflow
        logger.warning("dashboards: rendering failed; the step itself succeeded", exc_info=True)
        return []
    logger.info("dashboards: %d files written; open %s", len(written), index_path(config))
    return written


def render_backtest_safely(config: AppConfig, run: str) -> list[Path]:
    """The page of backtest `run` (reports/backtest-<run>.json) and the index; what
    `fraud-app backtest` calls at its end: a rendering failure is logged, returns []."""
    sources = dashboard_sources(config)
    try:
        written = render_backtest(sources, run, dashboard_options(config))
        written.append(render_index(sources))
    except Exception:  # rendering is a by-product: it must never fail the backtest
        logger.warning("dashboards: backtest page %s failed; the backtest succeeded", run,
                       exc_info=True)  # fmt: skip
        return []
    return written


def log_dashboards_safely(config: AppConfig, run_id: str | None, written: list[Path]) -> None:
    """Log the written pages to the run's MLflow run (artifacts under dashboards/); a failure
    is logged, never raised (the pages are already on disk)."""
    if not written or not run_id:
        return
    try:
        from fraud_app.tracking.client import log_files

        files = list(dict.fromkeys(written))  # the shared plotly.js once
        n = log_files(config, run_id, files, index_path(config).parent, "dashboards")
        logger.info("logged %d dashboard files to MLflow run %s", n, run_id)
    except Exception as exc:  # one line (the pages are on disk); the trace at DEBUG
        lines = str(exc).strip().splitlines() or [""]
        logger.warning(
            "could not log the dashboards to MLflow run %s (%s: %s); the pages are in %s",
            run_id, type(exc).__name__, redacted(lines[0][:500]), index_path(config).parent,
        )  # fmt: skip
        logger.debug("the failure to log the dashboards", exc_info=True)
