"""The per-run records under paths.root that `fraud-app prune` may remove, by kind, and
what must stay whatever the retention rules say (with why).

Owns finding the items (training runs, scoring summaries, job reports, model-cache entries)
and their protections; does not own the decision (fraud_app.retention.plan) nor removing
(pipelines.prune.pipeline). Reads only: nothing here changes a file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from dashboards.render import BACKTESTS, run_dir_name
from fraud_app import uris
from fraud_app.config import AppConfig
from fraud_app.etl.lock import holder_alive, holder_text
from fraud_app.naming import is_name
from fraud_app.retention.plan import Item
from fraud_app.tracking.retention import RegistryHolds
from fraud_app.uris import local_path
from pipelines.training.run_names import finished

logger = logging.getLogger(__name__)
WINDOWS = ("validation", "test")  # training's evaluation-<run>-<window>.json
CACHE = "model-cache"  # fraud_app.tracking.models._cache_root


@dataclass
class Kind:
    """The items of one kind and the ones that must stay (name -> why)."""

    items: list[Item] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)


def _by_hand(kind: Kind, item: str, name: str) -> None:
    """Protect `item` when `name` (its run, job or report name) is none fraud-app writes
    (every name it writes passes naming.check_name): a file put there by hand that only
    looks like a record (`scoring-my notes.json`, `training-ünïcode.json`)."""
    if not is_name(name):
        kind.protected.setdefault(
            item,
            f"{name!r} is not a name fraud-app gives (letters, digits, '.', '_', '-'): "
            "put there by hand?",
        )


def mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _dirs(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():  # None: a table on remote storage
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def training_names(config: AppConfig) -> set[str]:
    """Every name a training run left something under (models, test scores, reports)."""
    paths = config.paths
    reports = paths.local("reports")
    names = {
        p.name for p in _dirs(paths.local("models")) + _dirs(paths.local_or_none("test_scores"))
    }
    if reports.is_dir():
        names |= {p.name[len("training-") : -len(".json")] for p in reports.glob("training-*.json")}
    return names


def reported_mlflow_runs(config: AppConfig) -> dict[str, str]:
    """Training run -> the MLflow run its report names (tracking was on when it ran)."""
    reports, found = config.paths.local("reports"), {}
    for path in sorted(reports.glob("training-*.json")) if reports.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            run_id = json.loads(path.read_text(encoding="utf-8")).get("mlflow_run_id")
            if isinstance(run_id, str) and run_id:
                found[path.name[len("training-") : -len(".json")]] = run_id
    return found


def _evaluations(config: AppConfig, run: str, report: Path) -> list[Path]:
    """The run's window reports: those its report lists, else evaluation-<run>-<window>.json."""
    reports = config.paths.local("reports")
    listed = []
    with contextlib.suppress(OSError, ValueError, AttributeError):
        listed = list(
            (json.loads(report.read_text(encoding="utf-8")).get("evaluations") or {}).values()
        )
    found = {reports / f"evaluation-{run}-{w}.json" for w in WINDOWS}
    found |= {  # only files of this run in the reports folder, whatever the report says
        reports / Path(p).name
        for p in listed
        if isinstance(p, str)
        and Path(p).name.startswith(f"evaluation-{run}-")
        and Path(p).parent.resolve() == reports.resolve()
    }
    return sorted(p for p in found if p.is_file())


def training_runs(config: AppConfig, holds: RegistryHolds, scoring_dir: Path | None) -> Kind:
    paths, kind = config.paths, Kind()
    # test scores on remote storage (a URI root) are Spark's to remove: not listed here
    scores_dir = paths.local_or_none("test_scores")
    for run in sorted(training_names(config)):
        model, report = (
            paths.local("models") / run,
            paths.local("reports") / f"training-{run}.json",
        )
        if not finished(config, run):
            kind.protected[run] = (
                "not finished (being trained, or interrupted: `train --run` resumes it)"
            )
        elif not report.is_file():  # an ensemble put there by hand (import-onnx, a copy)
            kind.protected[run] = f"no report {report.name}: not a training run's model"
        elif (holder := lock_holder(paths.local("models") / f".{run}.lock")) is not None:
            kind.protected[run] = f"its run-name lock is held by {holder}"
        elif run in holds.runs:
            kind.protected[run] = holds.runs[run]
        elif (why := _named(model, holds.sources)) is not None:
            kind.protected[run] = why
        elif scoring_dir is not None and _inside(scoring_dir, model):
            kind.protected[run] = "scoring.model names it"
        scores = [] if scores_dir is None else [scores_dir / run]
        when = mtime(
            next(p for p in (report, model / "ensemble.json", model, *scores) if p.exists())
        )
        pages = paths.local("reports") / "dashboards" / run_dir_name(run)
        parts = list(dict.fromkeys([model, *scores, paths.local("checkpoints") / run, pages]))
        parts += [*_evaluations(config, run, report), report]
        kind.items.append(Item("training_runs", run, when, tuple(p for p in parts if p.exists())))
        _by_hand(kind, run, run)
    return kind


def _inside(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def _named(model: Path, sources: dict[Path, str]) -> str | None:
    """Why a registered version's source holds `model` (the source is it or inside it)."""
    for source, why in sources.items():
        if _inside(source, model):
            return why
    return None


def lock_holder(lock: Path) -> str | None:
    """Who holds a run-name lock, when a live process (or another host) does; None for no
    lock or a dead holder's. Reads only (a dry run must change nothing)."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return f"an unreadable lock file {lock}"
    if not isinstance(info, dict):
        return f"an unreadable lock file {lock}"
    if holder_alive(info) is False:
        return None
    return holder_text(info)


def scoring_model_dir(config: AppConfig) -> Path | None:
    """scoring.model as a local directory (None for a registry or run URI)."""
    uri = str(config.scoring.model or "")
    if not uri or uri.startswith(("models:/", "runs:/")):
        return None
    path = local_path(uri)
    return path.resolve() if path is not None else None


def scoring_reports(config: AppConfig) -> Kind:
    """`score`'s `scoring-<job>.json`, one per job; keep_last counts per scores table the
    job wrote (the report's `output`), each table's newest kept."""
    reports, kind = config.paths.local("reports"), Kind()
    for path in sorted(reports.glob("scoring-*.json")) if reports.is_dir() else []:
        group = _scored_table(path)
        kind.items.append(Item("scoring_reports", path.stem, mtime(path), (path,), group))
        _by_hand(kind, path.stem, path.stem[len("scoring-") :])
    return kind


def _scored_table(report: Path) -> str:
    """The family of a scoring report: the scores table its job wrote (`output`). The file
    name holds only the job id: grouped as one family, a shadow or backfill job writing
    another table (a challenger's scores) crowded the production job's reports out, and
    keep_last 1 removed the newest report of every table but the last scored. A report
    that names no output (cut, by hand) counts in one family of such reports, as before."""
    return _reported_table(report, "output") or ""


def job_reports(config: AppConfig, config_file: Path | None) -> Kind:
    """backtest-<run>.json; tune-<run>.json with its best config and trial journal;
    `evaluate`'s evaluation-<name>.json (not a training run's window report)."""
    paths, kind = config.paths, Kind()
    reports = paths.local("reports")
    if not reports.is_dir():
        return kind
    training = training_names(config)
    owned = {f"evaluation-{run}-{w}" for run in training for w in WINDOWS}
    pages = reports / "dashboards" / BACKTESTS
    for path in sorted(reports.glob("backtest-*.json")):
        page = pages / f"{path.stem[len('backtest-') :]}.html"
        parts = (path, *([page] if page.is_file() else []))
        kind.items.append(Item("job_reports", path.stem, mtime(path), parts, "backtest"))
        _by_hand(kind, path.stem, path.stem[len("backtest-") :])
        if (paths.local("checkpoints") / path.stem).exists():
            kind.protected[path.stem] = "its checkpoints exist (a backtest of that name runs)"
    for path in sorted(reports.glob("tune-*.json")):
        run = path.stem[len("tune-") :]
        extra = [reports / f"tune-{run}-best.yaml", reports / f"tune-{run}.trials.jsonl"]
        parts = (path, *(p for p in extra if p.is_file()))
        kind.items.append(Item("job_reports", path.stem, mtime(path), parts, "tune"))
        _by_hand(kind, path.stem, run)
    for path in sorted(reports.glob("evaluation-*.json")):
        if path.stem not in owned:
            kind.items.append(Item("job_reports", path.stem, mtime(path), (path,), "evaluation"))
            _by_hand(kind, path.stem, path.stem[len("evaluation-") :])
    if config_file is not None:
        for item in kind.items:
            if any(p.resolve() == config_file for p in item.paths):
                kind.protected[item.name] = "it holds the config file of this command"
    return kind


def validation_reports(config: AppConfig) -> Kind:
    """`validate`'s `<suite>_validation-<UTC time>Z.json` and `.html`, one pair per run and
    table (each table a family: its newest is kept)."""
    reports, kind = config.paths.local("reports"), Kind()
    if not reports.is_dir():
        return kind
    for path in sorted(reports.glob("*_validation-*.json")):
        html = path.with_suffix(".html")
        parts = (path, *([html] if html.is_file() else []))
        suite, run = path.stem.split("_validation-", 1)
        group = _validated_table(path, suite)
        kind.items.append(Item("validation_reports", path.stem, mtime(path), parts, group))
        _by_hand(kind, path.stem, run if is_name(suite) else suite)
    return kind


def _validated_table(report: Path, suite: str) -> str:
    """The family of a validation report: its suite and the table it names. The file name
    holds only the suite (`features_validation-...`): grouped by it, the reports of two
    tables validated with one suite (`validate --table features --input OTHER`) were one
    family, and keep_last 1 removed the newest report of all but the last validated table.
    A report that does not name its table (unreadable, cut) counts in its suite's family."""
    table = _reported_table(report, "table")
    return suite if table is None else f"{suite} {table}"


def _reported_table(report: Path, key: str) -> str | None:
    """The table a JSON report names under `key`, in one spelling (`file:/x/`, `file:///x`
    and `/x` are the same local table: a config that changed how it writes the path kept
    two families); None when the report is unreadable or names none."""
    name = None
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(report.read_text(encoding="utf-8"))
        name = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name.strip():
        return None
    name = name.strip()
    local = uris.local_path(name)
    return str(local) if local is not None else (name.rstrip("/") or "/")


def model_cache(config: AppConfig, holds: RegistryHolds) -> Kind:
    """`<paths.root>/model-cache/<entry>/`, dated by its last use (resolve_model touches it)."""
    kind = Kind()
    for path in _dirs(config.paths.driver_dir().resolve() / CACHE):
        kind.items.append(Item("model_cache", path.name, mtime(path), (path,)))
        if path.name in holds.cache_keys:
            kind.protected[path.name] = holds.cache_keys[path.name]
    return kind


def unlock_audit(config: AppConfig) -> Kind:
    """`fraud-app unlock --force`'s audit records under `<paths.root>/.fraud-app-unlock/`,
    each with the files its clearing moved into that folder (its `moved_to`; a marker
    renamed `_killed.json` beside its table is not the folder's), dated by the record.
    Before (session 41), nothing removed them: a scheduled wrapper that clears locks added
    files for ever. A file that no record names is kept: a clearing under way (the lock
    moved, its record not yet written), a damaged record, a file put there by hand."""
    from pipelines.unlock.clear import AUDIT_DIR

    folder, kind = config.paths.driver_dir() / AUDIT_DIR, Kind()
    if not folder.is_dir():
        return kind
    # a record's moved entry may be a link or a directory (a lock path that held no file,
    # moved aside as it was): removed as such, a link never followed (pipeline._delete)
    entries = {p.name: p for p in folder.iterdir()}
    files = {n: p for n, p in entries.items() if p.is_file() and not p.is_symlink()}
    records = {}
    for path in sorted(p for p in files.values() if p.suffix == ".json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "cleared" in record:  # not a copy kept beside one
            records[path.name] = record
    named: set[str] = set()
    for name, record in records.items():
        path = files[name]
        moved = [Path(m).name for m in record.get("moved_to") or []
                 if isinstance(m, str) and Path(m).parent.name == AUDIT_DIR]  # fmt: skip
        # another record is never a clearing's moved file (a record edited by hand)
        parts = (path, *(entries[m] for m in moved if m in entries and m not in records))
        named.update(p.name for p in parts)
        kind.items.append(Item("unlock_audit", path.stem, mtime(path), parts))
        _by_hand(kind, path.stem, path.stem)
    for name in sorted(set(files) - named):
        kind.items.append(Item("unlock_audit", name, mtime(files[name]), (files[name],)))
        kind.protected[name] = ("no audit record names it (a clearing under way, a damaged "
                                "record, or put there by hand)")  # fmt: skip
    return kind
