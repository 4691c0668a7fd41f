"""Write the pages: per run `<output>/<run>/{index,training,model-quality,data-quality,
scoring}.html`, per backtest report `<output>/backtests/<run>.html`, and `<output>/index.html`
listing every run and backtest. The pages share one plotly.js,
`<output>/assets/plotly-<version>.min.js` (dashboards.assets; before session 32 each folder
had its own 4.8 MB `plotly.min.js`); a run's key charts are also SVG files,
`<output>/<run>/plots/*.svg` (dashboards.stills: MLflow's viewer shows them): copy or zip the output folder, or a run folder with
`assets/`. Returns the written files (with the shared bundle, so a caller logging them
keeps the layout the pages refer to); logging them anywhere is the caller's job.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dashboards.assets import ASSETS, drop_old_copy, ensure_plotly
from dashboards.errors import DashboardInputError
from dashboards.html import (
    PAGES,
    PLOTLY_JS,
    Section,
    esc,
    fmt_int,
    fmt_num,
    href,
    page,
    paragraph,
    plain_page,
    report_page,
    table,
)
from dashboards.pagefile import write_page as _write
from dashboards.pages import backtest, data_quality, model_quality, scoring, training
from dashboards.prep.backtest import check_report
from dashboards.prep.drift import DEFAULT_THRESHOLD
from dashboards.report_index import ReportIndex
from dashboards.sources import (
    RunData,
    Sources,
    check_run_name,
    list_backtests,
    list_runs,
    load_run,
    read_json,
    trained_at,
)
from dashboards.stills import PLOTS, stills
from dashboards.undrawn import LAYOUT_ERRORS, layout_message, read_from

logger = logging.getLogger(__name__)

HINTS = {
    "training": "No training history in this run's report.",
    "model-quality": "No metrics, scores or evaluations saved for this run.",
    "data-quality": "No validation, ETL or split reports found.",
    "scoring": "No scoring summaries for this run's model yet: run `fraud-app score`.",
}


@dataclass(frozen=True)
class DashboardOptions:
    alert_budget: float = 0.01  # when the model metadata (C2) has none
    psi_threshold: float = DEFAULT_THRESHOLD
    card_k: int = 100
    quarantine_rows: int = 10
    inline_plotlyjs: bool = False  # True: self-contained pages (~5 MB each), no shared plotly.js
    # how a quarantined row's value is shown, (column, value) -> value: fraud-app passes
    # its card-number masking (privacy.card_numbers); None: as the quarantine table holds it
    shown_value: Callable[[str, Any], Any] | None = None


def _shown(sample: pd.DataFrame, shown_value: Callable[[str, Any], Any]) -> pd.DataFrame:
    """The quarantine sample with each value as `shown_value(column, value)` gives it."""
    return pd.DataFrame(
        {c: [shown_value(str(c), v) for v in sample[c]] for c in sample.columns},
        index=sample.index,
    )


def _sections(stem: str, data: RunData, options: DashboardOptions):
    if stem == "training":
        return training.sections(data)
    if stem == "model-quality":
        q = model_quality.QualityOptions(options.alert_budget, options.card_k)
        return model_quality.sections(data, q)
    if stem == "data-quality":
        return data_quality.sections(data)
    return scoring.sections(data, options.psi_threshold)


def render_run(
    sources: Sources,
    run: str,
    options: DashboardOptions | None = None,
    *,
    index: ReportIndex | None = None,
    unreadable: list[str] | None = None,
) -> list[Path]:
    """All pages of one run; returns the files written (pages, plotly.min.js). `index`:
    the reports as this render has read them (render_all shares one across its runs).
    `unreadable`: gets one line per input that could not be read (its sections show the
    error; the other sections and pages are drawn)."""
    options = options or DashboardOptions()
    started = time.monotonic()
    data = load_run(sources, run, quarantine_rows=options.quarantine_rows, index=index)
    if options.shown_value is not None and data.quarantine_sample is not None:
        data.quarantine_sample = _shown(data.quarantine_sample, options.shown_value)
    if unreadable is not None:
        unreadable += [f"run {run}: {why}" for why in data.unreadable.values()]
    out = sources.output / run_dir_name(run)
    written = [] if options.inline_plotlyjs else [ensure_plotly(sources.output)]
    counts = {}
    for stem, title in PAGES.items():
        secs = _page_sections(run, stem, data, options, unreadable)
        counts[stem] = len(secs)
        written.append(
            _write(
                out / f"{stem}.html",
                page(title, run, stem, secs, HINTS[stem], inline_js=options.inline_plotlyjs),
            )
        )
    plots = _write_stills(out, data)
    written.append(_write(out / "index.html", _run_index(data, counts, [p.name for p in plots])))
    written += plots
    drop_old_copy(out)  # the folder's pages no longer load their own plotly.min.js
    logger.info("dashboards: run %s rendered to %s in %.1f s", run, out, time.monotonic() - started)
    return written


def _page_sections(
    run: str, stem: str, data: RunData, options: DashboardOptions, unreadable: list[str] | None
) -> list[Section]:
    """The sections of one page, or one section saying why the page could not be drawn
    (logged as a WARNING, and a line in `unreadable`: a page left undrawn exited 0, as if
    all were drawn): the other pages are drawn all the same."""
    try:
        return _sections(stem, data, options)
    except DashboardInputError as exc:  # one broken input must not hide the other pages
        why = str(exc)
    except LAYOUT_ERRORS as exc:  # a value of another type than the writer's (e.g. text)
        logger.debug("dashboards: the drawing error", exc_info=True)
        why = layout_message(exc) + read_from(stem, data)
    logger.warning("dashboards: run %s, page %s: %s", run, stem, why)
    if unreadable is not None:
        unreadable.append(f"run {run}: page {stem} not drawn: {why}")
    return [Section("This page could not be drawn", paragraph(why))]


def _write_stills(out: Path, data: RunData) -> list[Path]:
    """The run's key charts as SVG (`<run>/plots/`, dashboards.stills); a chart the saved
    data no longer defines is removed. A drawing error is logged; the pages stand."""
    folder = out / PLOTS
    try:
        charts = stills(data)
    except (DashboardInputError, *LAYOUT_ERRORS) as exc:
        logger.warning("dashboards: run %s, the SVG plots: %s", data.run, layout_message(exc))
        charts = {}
    written = [_write(folder / name, svg) for name, svg in charts.items()]
    if folder.is_dir():
        for stale in folder.glob("*.svg"):
            if stale.name not in charts:
                stale.unlink(missing_ok=True)
    return written


BACKTESTS = "backtests"  # folder of the backtest pages under the output
# names of the output's own entries: a run (or backtest) of one of these names (valid run
# names) wrote its directory over them (a run `index.html` made the top index a directory)
RESERVED = frozenset({"index.html", BACKTESTS, PLOTLY_JS, ASSETS})


def run_dir_name(run: str) -> str:
    """The run's folder under the output: its name, or `_<name>` for a reserved name (a
    run name starts with a letter or digit, so `_...` is nobody else's folder)."""
    return f"_{run}" if run in RESERVED else run


def _run_index(data: RunData, counts: dict[str, int], plots: list[str]) -> str:
    blurbs = {
        "training": "loss and validation AP per member, time split per group, throughput",
        "model-quality": "PR/ROC curves, score distributions, threshold table, registry",
        "data-quality": "validation results, quarantine, rows per step, label rate per day",
        "scoring": "alerts and mean score per day, PSI drift per feature, score drift",
    }
    rows = "".join(
        f'<li><a href="{stem}.html">{esc(title)}</a>: {esc(blurbs[stem])} '
        f"({fmt_int(counts[stem])} sections)</li>"
        for stem, title in PAGES.items()
    )
    if plots:
        links = ", ".join(f'<a href="{PLOTS}/{href(name)}">{esc(name)}</a>' for name in plots)
        rows += f"<li>Still images (SVG, no script; what MLflow's viewer shows): {links}</li>"
    try:
        facts = table(["figure", "value"], _facts(data.training))
    except LAYOUT_ERRORS as exc:  # it escaped render_all: a traceback for `members: 5`
        logger.warning("dashboards: run %s, index: %s", data.run, layout_message(exc))
        facts = f"<section>{paragraph(layout_message(exc))}</section>"
    return plain_page(
        f"Run {data.run}", f"<section><ul>{rows}</ul></section>{facts}", up="../index.html"
    )


def _facts(training: dict) -> list[list[str]]:
    members, test = _members_and_test(training)
    reg = training.get("registry") or {}
    return [
        ["ensemble members", fmt_int(members)],
        ["test transactions", fmt_int(test.get("rows"))],
        ["test frauds", fmt_int(test.get("frauds"))],
        ["test ROC AUC", fmt_num(test.get("roc_auc"), 4)],
        ["test average precision", fmt_num(test.get("average_precision"), 4)],
        ["registry decision", str(reg.get("decision") or "-")],
        ["model", str(training.get("model_path") or "-")],
    ]


def _members_and_test(training: dict) -> tuple[int | None, dict]:
    """The member count and the test metrics of a training report, None / {} where the
    report holds something else there (`members: 5` was a TypeError out of render_all,
    a traceback from `fraud-app dashboards`, and no index for any run)."""
    members = training.get("members")
    metrics = training.get("metrics")
    test = metrics.get("test") if isinstance(metrics, dict) else None
    return (len(members) if isinstance(members, list) else None,
            test if isinstance(test, dict) else {})  # fmt: skip


def render_backtest(
    sources: Sources, run: str, options: DashboardOptions | None = None
) -> list[Path]:
    """`<output>/backtests/<run>.html` from `reports/backtest-<run>.json` (+ the shared
    plotly.js)."""
    options = options or DashboardOptions()
    path = sources.reports / f"backtest-{check_run_name(run)}.json"
    report = read_json(path)
    check_report(report, str(path))
    out = sources.output / BACKTESTS
    written = [] if options.inline_plotlyjs else [ensure_plotly(sources.output)]
    text = report_page(f"Backtest {run}", backtest.sections(report), up="../index.html",
                       inline_js=options.inline_plotlyjs)  # fmt: skip
    written.append(_write(out / f"{run}.html", text))
    drop_old_copy(out)  # once no backtest page there loads it
    return written


def render_backtests(
    sources: Sources, options: DashboardOptions | None = None, unreadable: list[str] | None = None
) -> list[Path]:
    """A page per backtest report; a broken report is logged, skipped and added to
    `unreadable` (it was logged only: `fraud-app dashboards` exited 0)."""
    written: list[Path] = []
    for run in list_backtests(sources):
        try:
            written += render_backtest(sources, run, options)
            continue
        except DashboardInputError as exc:
            why = str(exc)
        except LAYOUT_ERRORS as exc:
            why = layout_message(exc)
        logger.warning("dashboards: backtest %s: %s", run, why)
        if unreadable is not None:
            unreadable.append(f"backtest {run} not drawn: {why}")
    return written


def _dig(doc, *keys):
    """doc[k1][k2]...; None where a level is missing or not a JSON object."""
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _backtest_index(sources: Sources) -> str:
    rows, links = [], []
    for run in list_backtests(sources):
        if not (sources.output / BACKTESTS / f"{run}.html").is_file():
            continue
        try:  # its page is from before the file broke
            report = read_json(sources.reports / f"backtest-{run}.json")
        except DashboardInputError as exc:
            logger.warning("dashboards: backtest %s left out of the index: %s", run, exc)
            continue
        # a summary of another shape (`summary: "x"`) was an AttributeError out of render_all
        folds = report.get("folds")
        rows.append([run, fmt_int(len(folds) if isinstance(folds, list) else None),
                     fmt_num(_dig(report, "summary", "ensemble", "average_precision", "mean"), 4),
                     fmt_num(_dig(report, "summary", "baseline", "average_precision", "mean"), 4),
                     "ok" if _dig(report, "summary", "leakage_checks_ok") is True else "FAILED"])  # fmt: skip
        links.append(f'<li><a href="{BACKTESTS}/{href(run + ".html")}">{esc(run)}</a></li>')
    if not rows:
        return ""
    headers = ["backtest", "folds", "ensemble mean AP", "baseline mean AP", "leakage checks"]
    return (
        f"<section><h2>Backtests</h2><ul>{''.join(links)}</ul>"
        f"{table(headers, rows, numeric=(1, 2, 3))}</section>"
    )


def render_index(sources: Sources) -> Path:
    """The top-level list of runs (newest first) that have pages, then the backtests."""
    found = []  # (finish time, row, link): newest first by the time in the report
    for run in list_runs(sources):
        folder = run_dir_name(run)
        if not (sources.output / folder / "index.html").is_file():
            continue
        report = sources.reports / f"training-{run}.json"
        try:
            training = read_json(report)
        except DashboardInputError as exc:  # its pages are from before the file broke
            logger.warning("dashboards: run %s left out of the index: %s", run, exc)
            continue
        members, test = _members_and_test(training)
        finished = trained_at(training, report)
        when = dt.datetime.fromtimestamp(finished, dt.UTC)
        row = [run, when.strftime("%Y-%m-%d %H:%M UTC"), fmt_int(members),
               fmt_int(test.get("rows")), fmt_num(test.get("roc_auc"), 4),
               fmt_num(test.get("average_precision"), 4)]  # fmt: skip
        found.append(
            (finished, row, f'<li><a href="{href(folder)}/index.html">{esc(run)}</a></li>')
        )
    # newest first by when each run finished, as the `trained` column says; list_runs' order
    # is the files' times, a copy's in a copied reports/ folder (cp without -p: the runs
    # stood in the order the copy wrote them, e.g. 03-01 above 03-03; session 51)
    found.sort(key=lambda f: f[0], reverse=True)  # stable: files' order among equal times
    rows, links = [f[1] for f in found], [f[2] for f in found]
    headers = ["run", "trained", "members", "test rows", "test ROC AUC", "test AP"]
    body = (
        f"<section><h2>Runs</h2><ul>{''.join(links) or '<li>none yet</li>'}</ul>"
        f"{table(headers, rows, numeric=(2, 3, 4, 5))}</section>"
        f"{_backtest_index(sources)}"
    )
    return _write(sources.output / "index.html", plain_page("fraud-app dashboards", body))


def render_all(
    sources: Sources,
    runs: list[str] | None = None,
    options: DashboardOptions | None = None,
    *,
    index: ReportIndex | None = None,
    unreadable: list[str] | None = None,
) -> list[Path]:
    """Pages for `runs` (default: every run with a training report), every backtest
    report, and the index. A name in `runs` with a backtest report but no training report
    is a backtest (`fraud-app backtest --run NAME`): its page is rendered (it was refused
    as 'no training report'). `index`: the view of the reports directory its runs share
    (default: a new ReportIndex, so each report is parsed once, not once per run).
    `unreadable`: as for render_run; a run skipped whole is added there too."""
    written: list[Path] = []
    backtests = []
    index = index if index is not None else ReportIndex(sources.reports)
    for run in list_runs(sources) if runs is None else runs:
        if runs is not None and _only_a_backtest(sources, run):
            backtests.append(run)
            continue
        try:
            written += render_run(sources, run, options, index=index, unreadable=unreadable)
        except DashboardInputError as exc:
            if runs is not None:  # asked for by name: the error is the answer
                raise
            # every run: one unreadable report (a run killed while writing it) must not
            # hide the others' pages and the index
            logger.warning("dashboards: run %s skipped: %s", run, exc)
            if unreadable is not None:
                unreadable.append(f"run {run} skipped whole: {exc}")
        except LAYOUT_ERRORS as exc:  # a report of another shape, met outside the pages
            if runs is not None:
                raise DashboardInputError(f"run {run}: {layout_message(exc)}") from exc
            logger.warning("dashboards: run %s skipped: %s", run, layout_message(exc))
            if unreadable is not None:
                unreadable.append(f"run {run} skipped whole: {layout_message(exc)}")
    for run in backtests:  # asked for by name: a broken report is an error, not a warning
        written += render_backtest(sources, run, options)
    written += render_backtests(sources, options, unreadable)
    written.append(render_index(sources))
    return list(dict.fromkeys(written))  # the shared bundle once, not once per run


def _only_a_backtest(sources: Sources, run: str) -> bool:
    reports = sources.reports
    return (reports / f"backtest-{run}.json").is_file() and not (
        reports / f"training-{run}.json"
    ).is_file()
