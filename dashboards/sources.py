"""Reading what the workflow saved: the only module of dashboards that touches files it
did not write. Every input is optional; a missing file is None (its section is left
out), a file that exists but breaks its contract is a DashboardInputError naming it; a
damaged Parquet file of the scores, the canonical table or the quarantine is kept in
`RunData.unreadable` instead, so only the sections that read it show the error.

Inputs (contracts C2-C6 in the project's CONTRACTS):
  reports/training-<run>.json      training report (splits, balancing, members, metrics)
  reports/evaluation-<id>.json     evaluation of a model on a window (C4)
  reports/scoring-<job>.json       scoring summary per job (C3)
  reports/<suite>_validation-<name>.json  data checks (fraud_app.validation; the name is
                                   validate's --run-name or its UTC time)
  test-scores/<run>/               test-window scores Parquet (C5)
  canonical/_etl_report.json       ETL row accounting; canonical/ itself for rows per day
  quarantine/                      rejected rows (Parquet)
  features/_features.json          feature table metadata (rows)
  models/<run>/ensemble.json       model metadata (alert budget, threshold: C2)
  reports/backtest-<run>.json      rolling backtest report (pipelines.backtest)
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dashboards.errors import DashboardInputError
from dashboards.report_index import ReportIndex, read_json
from dashboards.score_table import finite_scores, scored_columns

logger = logging.getLogger(__name__)
# a registered version: a name holds no `/` (MLflow refuses it) but may hold `@` (fraud@eu)
_MODELS_URI = re.compile(r"^models:/([^/]+)/(\d+)$")
_RUN_URI = re.compile(r"^runs:/([^/]+)(?:/|$)")  # a run's logged model: runs:/<run id>/model
_MLFLOW_URI = re.compile(r"^(models|runs|mlflow-artifacts):", re.IGNORECASE)  # not a model folder


@dataclass(frozen=True)
class Sources:
    """Where the saved inputs live (paths.* of the app config) and where pages go."""

    reports: Path
    output: Path
    scores: Path | None = None
    canonical: Path | None = None
    quarantine: Path | None = None
    features: Path | None = None
    models: Path | None = None
    # input ("scores", "canonical", "quarantine", "features") -> why it cannot be read here
    # (a table on remote storage: pyarrow reads local files only); its sections say so
    elsewhere: dict[str, str] = field(default_factory=dict)


@dataclass
class RunData:
    run: str
    training: dict[str, Any]
    model_meta: dict[str, Any] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    scoring: list[dict[str, Any]] = field(default_factory=list)
    validations: list[dict[str, Any]] = field(default_factory=list)
    etl: dict[str, Any] | None = None
    feature_rows: int | None = None
    quarantine_sample: pd.DataFrame | None = None
    canonical_days: pd.DataFrame | None = None  # columns: date, label
    # input ("scores", "canonical", "quarantine") -> the one line saying why it could not
    # be read (a damaged Parquet file): the sections that read it show this line instead
    unreadable: dict[str, str] = field(default_factory=dict)
    # input -> where it was looked for and not found (a run's test scores): the sections
    # that read it say so, where they were left out with no word
    absent: dict[str, str] = field(default_factory=dict)


READ_AS = {"evaluation": "evaluations", "scoring": "scoring"}  # file prefix -> RunData field
UNMATCHED = (
    "; it may be about this run's model, so what it holds is not shown here (a report of "
    "another model: move it out of the reports folder)"
)


UNCHOSEN = (
    "; it may hold this run's data checks, so the checks shown may be another day's (one "
    "of another day: move it out of the reports folder)"
)


def _optional_json(path: Path | None) -> dict[str, Any] | None:
    return read_json(path) if path is not None and path.is_file() else None


def unsafe_run_name(run: str) -> str | None:
    """Why `run` cannot name a run's pages and inputs, or None. A run's name becomes one
    path component (`<output>/<run>/`, `test-scores/<run>/`, `models/<run>/`): a report
    file named `training-..json` made `..` a run, whose pages were written one folder
    above the dashboards (into reports/) and whose test scores were read from
    `test-scores/..`; `training-.json` wrote its pages over the output's own."""
    if run in ("", ".", "..") or any(c in run for c in "/\\\0"):
        return (
            f"run name {run!r} is not one plain path component (a name like "
            "'20240501T120000' or 'my-run', as fraud-app writes them, is expected): "
            "its pages and inputs would be paths outside their folders"
        )
    return None


def check_run_name(run: str) -> str:
    """`run`, or a DashboardInputError saying why it cannot be a run's name."""
    why = unsafe_run_name(run)
    if why is not None:
        raise DashboardInputError(why)
    return run


# (file, its mtime_ns) of the reports left out for their name that a WARNING named: a
# render lists the reports two or three times (its runs, the backtests, the index), and
# said so that often; a notebook's next render of the same files says nothing new
_TOLD: set[tuple[Path, int]] = set()


def _named_reports(sources: Sources, prefix: str) -> list[str]:
    """The run part of `reports/<prefix>-<run>.json`, newest file first; a file whose run
    part is not a plain name is left out, with a WARNING naming it (once per process and
    version of the file)."""
    found = sorted(
        ((p.stat().st_mtime_ns, p.name, p) for p in sources.reports.glob(f"{prefix}-*.json")),
        key=lambda t: t[:2],
    )
    runs = []
    for mtime_ns, _, path in reversed(found):
        run = path.stem[len(prefix) + 1 :]
        why = unsafe_run_name(run)
        if why is None:
            runs.append(run)
        elif (path, mtime_ns) not in _TOLD:
            _TOLD.add((path, mtime_ns))
            logger.warning("dashboards: %s left out: %s; rename the file", path, why)
    return runs


def list_runs(sources: Sources) -> list[str]:
    """Runs with a training report, newest report first."""
    return _named_reports(sources, "training")


def list_backtests(sources: Sources) -> list[str]:
    """Backtest runs (reports/backtest-<run>.json), newest report first."""
    return _named_reports(sources, "backtest")


def belongs_to(doc: dict[str, Any], run: str, training: dict[str, Any]) -> bool:
    """Whether an evaluation or scoring summary is about this run's model: same registry
    name and version, the run's logged model (`runs:/<its MLflow run id>/model`, its
    `models:/m-<id>`), or a model URI/path that names the run's model directory. A logged
    model was named on no run's page: its reports named `runs:/...` (before session 50,
    `ensemble` version `local`), matched against the registry's name (review50a)."""
    reg = training.get("registry")
    reg = reg if isinstance(reg, dict) else {}  # a report edited by hand: no match by name
    uri = str(doc.get("model_uri") or "").rstrip("/")
    name, version = doc.get("model_name"), doc.get("model_version")
    if (m := _MODELS_URI.match(uri)) and name is None:
        name, version = m.group(1), m.group(2)
    if reg.get("name") and name == reg["name"] and str(version) == str(reg.get("version")):
        return True
    run_id = training.get("mlflow_run_id")
    if run_id and (m := _RUN_URI.match(uri)) and m.group(1) == str(run_id):
        return True
    logged = str(reg.get("model_uri") or "")
    if logged.startswith("models:/m-") and uri == logged.rstrip("/"):
        return True
    model_path = str(training.get("model_path") or "").rstrip("/")
    if uri and uri == model_path:
        return True
    # a model directory elsewhere (a moved root, a relative path) by its name; not a
    # registry or run URI: the run `3` took every report on `models:/fraud-ensemble/3`,
    # whichever run's model that version is (and a run `model` every `runs:/<id>/model`)
    return bool(uri) and not _MLFLOW_URI.match(uri) and Path(uri).name == run


def _matching(
    index: ReportIndex, prefix: str, run: str, training: dict, broken: list[str]
) -> list[dict[str, Any]]:
    """The reports `<prefix>-*.json` about this run's model, by file name; only the
    matching ones are read in full. A report that cannot be read may be about this run's
    model: its error goes to `broken` (the run's pages say what is not shown). It failed
    the run before: one scoring summary of ANY model cut while written kept every run's
    pages at their last render, figures of the day before, with no word on them."""
    docs = []
    for entry in index.entries(f"{prefix}-*.json"):
        path = entry.path
        own = path.stem == f"{prefix}-{run}"
        try:
            if own or belongs_to(entry.doc(), run, training):
                doc = index.read(path)  # rewritten since it was indexed: match it again
                if own or belongs_to(doc, run, training):
                    docs.append({**doc, "_file": path.name})
        except DashboardInputError as exc:
            broken.append(str(exc))
    return docs


_VALIDATION = re.compile(r"^(?P<suite>.+)_validation(?:-(?P<name>.+))?$")


def _validation_reports(
    index: ReportIndex, run: str, trained: float, broken: list[str]
) -> list[dict[str, Any]]:
    """Per suite, the data checks of this run's data: the report validate wrote under the
    run's name (`validate --run-name RUN`), else the newest one checked before the run
    finished (`trained`: trained_at; the data the run trained on), else the newest one. The validation
    step names its reports `<suite>_validation-<name>.json` (one per validate), so a glob
    for `<suite>_validation.json` found none of them. Chosen from the index; only the
    chosen report of each suite is read in full. A report that cannot be read may be the
    one this run's data was checked by: its error goes to `broken` (it was logged and
    skipped: the page showed another day's checks, or none, exit 0)."""
    best: dict[str, tuple[tuple[bool, bool, float, str], Path]] = {}
    for entry in index.entries("*_validation*.json"):
        path = entry.path
        m = _VALIDATION.match(path.stem)
        if m is None:
            continue
        try:
            fields = entry.doc()
        except DashboardInputError as exc:  # another day's broken report hides nothing else
            logger.warning("dashboards: skipping a validation report: %s", exc)
            broken.append(str(exc))
            continue
        name, checked = m.group("name") or "", _checked_at(fields, entry.mtime)
        own = name == run or (name.startswith(f"{run}-") and name[len(run) + 1 :].isdigit())
        key = (own, checked <= trained, checked, path.name)
        suite = m.group("suite")
        if suite not in best or key > best[suite][0]:
            best[suite] = (key, path)
    docs = []
    for _, (_, path) in sorted(best.items()):
        try:
            docs.append({**index.read(path), "_file": path.name})
        except DashboardInputError as exc:  # broke since it was indexed
            logger.warning("dashboards: skipping a validation report: %s", exc)
            broken.append(str(exc))
    return docs


def trained_at(training: Any, path: Path) -> float:
    """When the run finished (POSIX seconds): the training report's `finished_at` (UTC ISO
    8601, written by `train` since session 50; a time without an offset read as UTC), else,
    for an older report or a value that is no time, the file's time. The file's time alone
    was a copy's in a copied reports/ folder (cp without -p): every run "trained" at the
    copy time, and data checks made after training were taken for the run's."""
    stamp = training.get("finished_at") if isinstance(training, dict) else None
    if isinstance(stamp, str):
        try:
            when = dt.datetime.fromisoformat(stamp)
            seconds = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
            dt.datetime.fromtimestamp(seconds, dt.UTC)  # a UTC time in years 1-9999 (review50f)
        except (ValueError, OverflowError, OSError):
            pass  # `9999-12-31T23:30:00-01:00` is year 10000 in UTC: no page could show it
        else:
            return seconds
    return path.stat().st_mtime


def _checked_at(doc: dict[str, Any], mtime: float) -> float:
    """When the checks ran (the report's `checked_at`; the file's time if it has none):
    a time inside the file survives copying, which resets the files' times."""
    try:
        return dt.datetime.fromisoformat(str(doc["checked_at"])).timestamp()
    except (KeyError, ValueError):
        return mtime


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame | None:
    """A Parquet file or directory (Spark layout; files starting with _ or . skipped)."""
    if not path.exists():
        return None
    try:
        dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
        if columns is not None:
            columns = [c for c in columns if c in dataset.schema.names]
        return dataset.to_table(columns=columns).to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise _unreadable(path, exc, columns) from exc


def _quarantine_sample(path: Path | None, n: int) -> pd.DataFrame | None:
    if path is None or not path.exists() or n <= 0:
        return None
    try:
        return ds.dataset(str(path), format="parquet").head(n).to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise _unreadable(path, exc, None) from exc


def _unreadable(path: Path, exc: Exception, columns: list[str] | None) -> DashboardInputError:
    """The error naming the file of `path` that cannot be read (pyarrow's message names
    a buffer or nothing when a file of a directory is damaged)."""
    where = path
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part[0] in "._" for part in p.relative_to(path).parts)):  # fmt: skip
            try:
                pf = pq.ParquetFile(file)  # a partition file lacks its partition column
                pf.read(columns=None if columns is None
                        else [c for c in columns if c in pf.schema_arrow.names])  # fmt: skip
            except (OSError, ValueError) as found:
                where, exc = file, found
                break
    why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return DashboardInputError(f"{where}: cannot read it as Parquet ({why})")


def _tolerant(data: RunData, name: str, read):
    """`read()`, or None with the error kept in `data.unreadable[name]` (one damaged file
    takes out only the sections that read it, not the run's pages)."""
    try:
        return read()
    except DashboardInputError as exc:
        data.unreadable[name] = str(exc)
        logger.warning("dashboards: run %s: %s; the sections that read it show this error, "
                       "the others are drawn", data.run, exc)  # fmt: skip
        return None


def load_run(
    sources: Sources, run: str, *, quarantine_rows: int = 10, index: ReportIndex | None = None
) -> RunData:
    """Everything saved about one run; absent inputs stay None or empty. `index`: the
    render's view of the reports directory, shared by its runs (a new one if None)."""
    index = index if index is not None else ReportIndex(sources.reports)
    check_run_name(run)
    training_path = sources.reports / f"training-{run}.json"
    if not training_path.is_file():
        known = ", ".join(list_runs(sources)[:10]) or "none"
        backtests = ", ".join(list_backtests(sources)[:10]) or "none"
        raise DashboardInputError(
            f"no training report {training_path} (nor a backtest report backtest-{run}.json "
            f"there). Known runs (newest first): {known}; backtests: {backtests}"
        )
    training = read_json(training_path)
    data = RunData(run=run, training=training)
    data.unreadable.update(sources.elsewhere)
    if sources.models is not None:
        ensemble = _optional_json(sources.models / run / "ensemble.json") or {}
        data.model_meta = ensemble.get("metadata") or {}
    if sources.scores is not None:
        if not (sources.scores / run).exists():
            data.absent["scores"] = str(sources.scores / run)
        data.scores = _tolerant(
            data,
            "scores",
            lambda: finite_scores(
                scored_columns(read_parquet(sources.scores / run), sources.scores / run),
                sources.scores / run,
                data.unreadable,
            ),
        )
    for name in ("evaluation", "scoring"):
        broken: list[str] = []
        setattr(data, READ_AS[name], _matching(index, name, run, training, broken))
        if broken:  # shown by the sections that read them
            data.unreadable[READ_AS[name]] = "; ".join(broken) + UNMATCHED
    broken: list[str] = []
    data.validations = _validation_reports(index, run, trained_at(training, training_path), broken)
    if broken:  # it may be this run's data checks
        data.unreadable["validations"] = "; ".join(broken) + UNCHOSEN
    # the ETL and feature reports are every run's: one cut while written skipped every
    # run (pages of the last render, no word on them); now the sections reading it say so
    if sources.canonical is not None:
        data.etl = _tolerant(
            data, "etl", lambda: _optional_json(sources.canonical / "_etl_report.json")
        )
        data.canonical_days = _tolerant(
            data, "canonical", lambda: read_parquet(sources.canonical, ["event_date", "label"])
        )
    if sources.features is not None:
        meta = (
            _tolerant(data, "features", lambda: _optional_json(sources.features / "_features.json"))
            or {}
        )
        data.feature_rows = meta.get("rows")
    data.quarantine_sample = _tolerant(
        data, "quarantine", lambda: _quarantine_sample(sources.quarantine, quarantine_rows)
    )
    return data
