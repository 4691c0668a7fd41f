"""`fraud-app prune`: remove the per-run records the `retention` rules no longer keep.

Owns the order of work (read the registry, find the items, decide, remove) and the
removal; pipelines.prune.inventory finds the items and what must stay,
fraud_app.retention.plan decides. A training run is removed under its run-name lock (the
one `train --run` takes), its report last: a prune stopped part-way leaves a run that is
still finished (report or model), which the next prune removes. Tables (canonical,
features, scores) are data, not per-run records: never touched here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fraud_app.config import AppConfig
from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import RootLock
from fraud_app.retention.plan import Decision, Item, decide
from fraud_app.tracking.retention import (
    RegistryHolds,
    check_store_holds,
    delete_runs,
    registry_holds,
    store_exists,
    training_run_ids,
)
from fraud_app.uris import redacted
from pipelines.prune import PRUNE_LOCK, inventory
from pipelines.training.run_names import finished, run_lock

logger = logging.getLogger(__name__)
KINDS = {
    "training_runs": ("training run", "training runs"),
    "scoring_reports": ("scoring report", "scoring reports"),
    "validation_reports": ("validation report", "validation reports"),
    "job_reports": ("job report", "job reports"),
    "model_cache": ("model-cache entry", "model-cache entries"),
    "unlock_audit": ("unlock audit record", "unlock audit records"),
}
LISTED_WHEN_REMOVED = ("unlock_audit",)  # in the summary's removed list only when some went


@dataclass
class KindResult:
    removed: list[Item] = field(default_factory=list)
    kept: list[Decision] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)  # (item, why not removed)
    freed: int = 0


@dataclass
class PruneResult:
    dry_run: bool
    kinds: dict[str, KindResult]
    mlflow_runs: int = 0  # MLflow runs deleted (or that would be)
    # the dashboards' bundles of an older plotly.js no page loads any more (removed, or
    # that would be) and their bytes
    bundles: list[Path] = field(default_factory=list)
    bundle_bytes: int = 0
    # the test scores of removed training runs on remote storage (a URI root), left there
    left_remote: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(k.freed for k in self.kinds.values()) + self.bundle_bytes

    @property
    def failed(self) -> int:
        return sum(len(k.failed) for k in self.kinds.values())


def prune(
    config: AppConfig,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    config_file: Path | None = None,
) -> PruneResult:
    """Remove (or with dry_run, only list) what `config.retention` does not keep."""
    # one prune at a time (two would race to remove the same items; a dry run removes
    # nothing, and writes no lock); writers are not held back: a training run is removed
    # under its own run-name lock
    lock = (
        contextlib.nullcontext()
        if dry_run
        else RootLock(config.paths.driver_root(), "prune", PRUNE_LOCK)
    )
    with lock:
        return _prune(config, dry_run, now or dt.datetime.now(dt.UTC), config_file)


def _prune(
    config: AppConfig, dry_run: bool, now: dt.datetime, config_file: Path | None
) -> PruneResult:
    rules = config.retention
    needs_registry = not (rules.training_runs.keeps_all() and rules.model_cache.keeps_all())
    holds = registry_holds(config) if needs_registry else RegistryHolds()
    reported = inventory.reported_mlflow_runs(config)  # read before the reports go
    if needs_registry:  # a store that is not train's reads as empty: no alias would hold
        check_store_holds(config, reported)
    if holds.store:
        logger.info("prune: the registry of %s read: %d run(s), %d cached model(s) held by an "
                    "alias", holds.store, len(holds.runs), len(holds.cache_keys))  # fmt: skip
    found = {
        "training_runs": inventory.training_runs(
            config, holds, inventory.scoring_model_dir(config)
        ),
        "scoring_reports": inventory.scoring_reports(config),
        "validation_reports": inventory.validation_reports(config),
        "job_reports": inventory.job_reports(
            config, config_file.resolve() if config_file else None
        ),
        "model_cache": inventory.model_cache(config, holds),
        "unlock_audit": inventory.unlock_audit(config),
    }
    result = PruneResult(dry_run, {})
    for kind, items in found.items():
        decisions = decide(items.items, getattr(rules, kind), now, items.protected)
        result.kinds[kind] = _apply(config, kind, decisions, dry_run)
    _left_remote(config, result)
    if rules.mlflow_runs and result.kinds["training_runs"].removed and store_exists(config):
        removed = result.kinds["training_runs"].removed
        result.mlflow_runs = _mlflow(config, removed, holds, dry_run, reported)
    if not dry_run and (
        result.kinds["training_runs"].removed or result.kinds["job_reports"].removed
    ):
        _reindex(config)
    _drop_bundles(config, result)
    return result


def _left_remote(config: AppConfig, result: PruneResult) -> None:
    """Name the test scores of the removed runs that Python cannot remove (a URI root's
    `test-scores/<run>` on HDFS / S3): before, they were left there unsaid."""
    if config.paths.local_or_none("test_scores") is not None:
        return
    runs = [item.name for item in result.kinds["training_runs"].removed]
    result.left_remote = [config.paths.resolve("test_scores", run) for run in runs]
    for place in result.left_remote:
        logger.warning("prune: %s the test scores %s: paths.test_scores is on remote storage, "
                       "which prune does not remove; remove them with the store's own tool "
                       "(e.g. `hdfs dfs -rm -r %s`)",
                       "would leave" if result.dry_run else "left", redacted(place),
                       redacted(place))  # fmt: skip


def _drop_bundles(config: AppConfig, result: PruneResult) -> None:
    """Remove the dashboards' plotly.js bundles of older versions that no page left loads
    (a plotly upgrade writes a new 4.8 MB bundle beside the old one; the pages of the runs
    drawn before it keep loading the old one until they are pruned or redrawn). A dry run
    counts the pages it would remove as gone."""
    from dashboards.assets import unused_bundles
    from pipelines.reporting import dashboard_sources

    output = dashboard_sources(config).output
    gone = [p for k in result.kinds.values() for item in k.removed for p in item.paths]
    for bundle in unused_bundles(output, gone if result.dry_run else ()):
        size = _size(bundle)
        why = None if result.dry_run else _delete((bundle,))
        if why is not None:
            logger.warning("prune: %s not removed: %s", bundle, why)
            continue
        result.bundles.append(bundle)
        result.bundle_bytes += size
        logger.info("prune: %s %s: no page loads this plotly.js any more (%s)",
                    "would remove" if result.dry_run else "removed",
                    _listed((bundle,), config.paths.driver_dir()), size_text(size))  # fmt: skip


def _reindex(config: AppConfig) -> None:
    """The dashboards' index again, without the removed runs and backtests (when there is one)."""
    from pipelines.reporting import dashboard_sources, index_path

    if not index_path(config).is_file():
        return
    from dashboards import render_index

    try:
        render_index(dashboard_sources(config))
    except Exception as exc:  # the pruning is done; the index is a convenience
        logger.warning("prune: the dashboards' index %s was not rewritten: %s "
                       "(`fraud-app dashboards` rewrites it)", index_path(config), exc)  # fmt: skip


def _apply(config: AppConfig, kind: str, decisions: list[Decision], dry_run: bool) -> KindResult:
    out, word = KindResult(), KINDS[kind][0]
    for d in decisions:
        if not d.remove:
            out.kept.append(d)
            if not d.why.startswith(_RULE_WORDS):  # kept for a reason of its own
                logger.info("prune: keeping %s %s: %s", word, d.item.name, d.why)
            continue
        size = sum(_size(p) for p in d.item.paths)
        why = None if dry_run else _remove(config, kind, d.item)
        if why is not None:
            out.failed.append((d.item, why))
            logger.warning("prune: %s %s not removed: %s", word, d.item.name, why)
            continue
        out.removed.append(d.item)
        out.freed += size
        logger.info("prune: %s %s %s (%s: %s, %s)", "would remove" if dry_run else "removed",
                    word, d.item.name, d.why, _listed(d.item.paths, config.paths.driver_dir()), size_text(size))  # fmt: skip
    return out


_RULE_WORDS = ("the newest", "no rule set", "within keep_last", "younger than max_age_days")


def _listed(paths: tuple[Path, ...], root: Path) -> str:
    """The paths, relative to paths.root where they lie under it, the first four."""
    names = [
        str(p.relative_to(root) if p.is_relative_to(root) else p) + ("/" if p.is_dir() else "")
        for p in paths
    ]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _remove(config: AppConfig, kind: str, item: Item) -> str | None:
    """Remove the item's paths (None), or say why it was not removed."""
    if kind != "training_runs":
        return _delete(item.paths)
    try:
        with run_lock(config, item.name):
            if not finished(config, item.name):  # a --replace started since the listing
                return "no longer finished (a `train --replace` of it runs)"
            return _delete(item.paths)
    except ConcurrentRunError as exc:
        return str(exc)


def _delete(paths: tuple[Path, ...]) -> str | None:
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            return f"{exc.strerror or exc} ({exc.filename or path})"
    return None


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if path.exists() or path.is_symlink() else 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _mlflow(
    config: AppConfig, removed: list[Item], holds: RegistryHolds, dry_run: bool,
    reported: dict[str, str],
) -> int:  # fmt: skip
    """Delete the MLflow runs (and nested runs) of the removed training runs that no
    registered version came from (this project's only: `reported`, the MLflow run each
    training report named); returns how many were (or would be) deleted."""
    count = 0
    for item in removed:
        ids = training_run_ids(config, item.name, reported.get(item.name))
        if not ids:
            continue
        if holds.registered_run_ids & set(ids):
            logger.info(
                "prune: MLflow run of %s kept: a registered version came from it", item.name
            )
            continue
        if not dry_run:
            delete_runs(config, ids)
        count += len(ids)
        logger.info("prune: %s %d MLflow run(s) of %s", "would delete" if dry_run else "deleted",
                    len(ids), item.name)  # fmt: skip
    return count


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def summary(result: PruneResult) -> str:
    """One line: what went (or would go), the bytes, what was kept and why."""
    verb = "would remove" if result.dry_run else "removed"
    gone = ", ".join(
        f"{len(k.removed)} {_noun(kind, len(k.removed))}"
        for kind, k in result.kinds.items()
        if k.removed or kind not in LISTED_WHEN_REMOVED
    )
    kept = "; ".join(_kept(kind, k) for kind, k in result.kinds.items() if k.kept)
    if result.bundles:
        n = len(result.bundles)
        gone += f", {n} unused plotly.js bundle{'' if n == 1 else 's'} of the dashboards"
    line = f"prune: {verb} {gone}: {size_text(result.freed)} {'to free' if result.dry_run else 'freed'}"
    if result.mlflow_runs:
        line += (f"; {result.mlflow_runs} MLflow run(s) {'would be ' if result.dry_run else ''}"
                 "deleted (`mlflow gc` frees their artifacts)")  # fmt: skip
    line += f"; kept {kept or 'nothing'}"
    if result.left_remote:
        line += (f"; {len(result.left_remote)} run(s)' test scores left on remote storage "
                 "(paths.test_scores: the warnings above name them)")  # fmt: skip
    if result.failed:
        line += f"; {result.failed} could not be removed (the warnings above say why)"
    if result.dry_run:
        line += "; nothing was removed (--dry-run)"
    return line


def _noun(kind: str, n: int) -> str:
    return KINDS[kind][0 if n == 1 else 1]


def _kept(kind: str, k: KindResult) -> str:
    reasons = Counter(d.why for d in k.kept)
    whys = ", ".join(f"{n} {why}" for why, n in reasons.most_common())
    return f"{len(k.kept)} {_noun(kind, len(k.kept))} ({whys})"
