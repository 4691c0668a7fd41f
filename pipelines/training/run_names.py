"""Which run name a training run writes under, and whether it may.

A run name owns `<paths.models>/<run>/`, `<paths.test_scores>/<run>/`,
`<paths.checkpoints>/<run>/` and `<paths.reports>/training-<run>.json` (written last: a
run is finished when it exists). Rules, checked before Spark starts by `train` / `run` and
again under the run's lock by `run_training`:

- a finished run is never trained again silently: RunExistsError naming its report and
  model, unless `replace` (then its checkpoints and report are removed first, so it trains
  anew; the earlier MLflow run and registered versions are kept);
- an unfinished run (checkpoints, no report: an interrupted run) is resumed; a finished
  run's checkpoints are removed once its report is written (`drop_checkpoints`), unless
  `training.keep_checkpoints`;
- two processes never train the same name at once: a lock file per name
  (`<paths.models>/.<run>.lock`, fraud_app.etl.lock.RootLock: a dead pid's lock is taken
  over), so the second gets ConcurrentRunError;
- a name left out is the UTC timestamp, with `-2`, `-3`, ... when that name is taken
  (two runs started in the same second got the same name and wrote into one directory).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fraud_app.config import AppConfig
from fraud_app.errors import ConcurrentRunError, RunExistsError
from fraud_app.etl.lock import RootLock
from fraud_app.naming import MAX_SUFFIX, check_name, stamped_names, utc_stamp

logger = logging.getLogger(__name__)


def report_path(config: AppConfig, run: str) -> Path:
    return config.paths.local("reports") / f"training-{run}.json"


def _model_dir(config: AppConfig, run: str) -> Path:
    return config.paths.local("models") / run


def _checkpoints(config: AppConfig, run: str) -> Path:
    return config.paths.local("checkpoints") / run


def finished(config: AppConfig, run: str) -> list[Path]:
    """What shows `run` finished (empty: free or resumable): its report, or a model
    directory that no interrupted run of this name left (no checkpoints beside it)."""
    report, model = report_path(config, run), _model_dir(config, run)
    if report.is_file():
        return [report, *([model] if model.exists() else [])]
    if (model / "ensemble.json").is_file() and not _checkpoints(config, run).exists():
        return [model]
    return []


def check_run_free(config: AppConfig, run: str | None, *, replace: bool = False) -> None:
    """RunExistsError when `run` names a finished run and `replace` is not set."""
    if not run or replace:
        return
    found = finished(config, check_name(run, "run name"))
    if found:
        raise RunExistsError(
            f"run {run!r} already finished ({' and '.join(str(p) for p in found)} exist); "
            "training it again would replace its model, test scores and report. Give a new "
            "--run name (or leave --run out: a UTC timestamp), or pass --replace to train it "
            "again under the same name (the earlier MLflow run and registered versions stay)"
        )


@contextmanager
def claim_run(config: AppConfig, run: str | None, *, replace: bool = False) -> Iterator[str]:
    """The run name to train under, held (lock) while the block runs; see the module doc."""
    if run:
        run = check_name(run, "run name")
        with run_lock(config, run):
            check_run_free(config, run, replace=replace)
            if replace:
                _clear(config, run)
            yield run
        return
    stamp = utc_stamp()
    for name in stamped_names(stamp):
        if finished(config, name) or _checkpoints(config, name).exists():
            continue
        try:
            lock = run_lock(config, name)
            lock.__enter__()
        except ConcurrentRunError:
            continue
        try:
            yield name
        finally:
            lock.__exit__(None, None, None)
        return
    raise ConcurrentRunError(f"no free run name {stamp}-2 .. -{MAX_SUFFIX}; pass --run NAME")


def drop_checkpoints(config: AppConfig, directory: str) -> None:
    """A finished run's checkpoints (`<paths.checkpoints>/<directory>/`): removed, unless
    `training.keep_checkpoints`; call once the run's report is written (the report makes
    the run finished: its checkpoints can resume nothing)."""
    path = config.paths.local("checkpoints") / directory
    if config.training.keep_checkpoints or not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    logger.info("run finished: its checkpoints %s removed (training.keep_checkpoints: false)", path)


def run_lock(config: AppConfig, run: str) -> RootLock:
    """The lock a run name is trained under (`<paths.models>/.<run>.lock`); `fraud-app prune`
    holds it while it removes a run."""
    return RootLock(
        str(config.paths.local("models")), f"train --run {run}", f".{run}.lock", "paths.models"
    )


def _clear(config: AppConfig, run: str) -> None:
    """--replace: the old run's checkpoints (else training would resume the finished run)
    and its report (a replacement that fails is then unfinished, not the old run)."""
    for path in (_checkpoints(config, run), report_path(config, run)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    logger.info("run %s: --replace: previous checkpoints and report removed", run)
