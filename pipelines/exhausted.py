"""The CLI's line for a command that ran out of disk space, quota, file size or open files
(fraud_app.exhaustion recognises the failure): the places this config writes to, by the
setting that chooses each, so that the line can say which setting to point elsewhere."""

from __future__ import annotations

from fraud_app import exhaustion, settings
from fraud_app.config import AppConfig
from fraud_app.config_paths import DRIVER_NAMES

_PATHS = (
    "root", "raw", "canonical", "quarantine", "features", "reports", "models", "checkpoints",
    "scores", "test_scores",
)  # fmt: skip


# commands that write in place, not staged: the line's "what it had written in part was
# discarded" would not be true (`init` keeps its own line: cannot write into DIR: ...)
UNSTAGED = frozenset({"init"})


def places(config: AppConfig | None) -> dict[str, str]:
    """setting -> the local directory (or file) it names in `config`; {} without a config."""
    if config is None:
        return {}
    from fraud_app.tracking.client import default_artifact_location, tracking_uri
    from fraud_app.tracking.store_lock import sqlite_database

    out = {f"paths.{name}": config.paths.resolve(name) for name in _PATHS}
    # what Python writes lies under paths.local_root (the locks, the model cache there too),
    # not under a remote root: a full disk there was named by no setting
    if config.paths.local_root is not None:
        out["paths.local_root"] = str(config.paths.driver_dir())
    out |= {f"paths.{name}": str(config.paths.local(name)) for name in DRIVER_NAMES}
    if config.scoring.output:
        out["scoring.output"] = config.scoring.output
    out["tracking.artifact_location"] = default_artifact_location(config)
    db = sqlite_database(tracking_uri(config))
    if db is not None:
        out["tracking.uri"] = str(db)
    # Spark's scratch files (shuffle, spills), when set: its default, java.io.tmpdir (/tmp),
    # would claim every file under /tmp (exhaustion.message falls back to it for a shuffle)
    if config.spark.conf.get("spark.local.dir"):
        out["spark.local.dir"] = str(config.spark.conf["spark.local.dir"]).split(",")[0]
    # Spark takes the environment's SPARK_LOCAL_DIRS before spark.local.dir: where it is
    # set, that is where the scratch files went and the setting to change
    if settings.spark_local_dir():
        out["SPARK_LOCAL_DIRS"] = settings.spark_local_dir()
    return out


def exhausted_line(command: str, exc: BaseException, config: AppConfig | None) -> str | None:
    """The `error:` text when `exc` is a resource running out, else None."""
    found = None if command in UNSTAGED else exhaustion.find(exc)
    if found is None:
        return None
    try:
        where = places(config)
    except Exception:  # the line must not hide the failure it reports: without settings
        where = {}
    return exhaustion.message(found, command, where)
