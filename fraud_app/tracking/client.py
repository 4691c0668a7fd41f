"""Connect to the configured tracking store, within a deadline, and get the experiment.

URI precedence: `tracking.uri` > env MLFLOW_TRACKING_URI > the embedded store
`sqlite:///<paths.root>/mlflow.db` with artifacts in `<paths.root>/mlartifacts`.
The experiment is created with an absolute artifact location (otherwise MLflow
writes artifacts into ./mlruns of whatever directory the process runs in).

Opening a new sqlite store creates its tables (MLflow's migrations: ~4 s of CPU);
`open_store` lets a workflow do that on a background thread long before its training
step connects, and `connect` waits for it (one thread at a time opens a store).
"""

from __future__ import annotations

import logging
import shlex
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from fraud_app import settings
from fraud_app.errors import TrackingError
from fraud_app.redaction import RedactingFilter
from fraud_app.tracking import http_deadline
from fraud_app.tracking.relocation import follow_moved_artifacts
from fraud_app.tracking.store_lock import sqlite_database, store_lock
from fraud_app.uris import redacted, scheme

logger = logging.getLogger(__name__)

_open_lock = threading.Lock()  # one thread at a time opens (and may create) a store


@dataclass(frozen=True)
class Store:
    uri: str
    experiment_id: str
    experiment_name: str
    artifact_location: str


def tracking_uri(config) -> str:
    if config.tracking.uri:
        return config.tracking.uri
    env = settings.mlflow_tracking_uri()
    if env:
        return env
    # SQLAlchemy percent-decodes the database part of the URL and cuts it at `?`: a root
    # named `a%20b` or `q?1` would open another file (or none). Quoted only then: MLflow
    # also creates the folder of the path as written, undecoded (an empty `a%2520b`)
    db = str((config.paths.driver_dir() / "mlflow.db").resolve())
    if "?" in db or urllib.parse.unquote(db) != db:
        db = db.replace("%", "%25").replace("?", "%3F")
    return f"sqlite:///{db}"


def default_artifact_location(config) -> str:
    if location := config.tracking.artifact_location:  # a URI (s3://, file:) as given
        return str(Path(location).resolve()) if scheme(location) == "" else location
    return str((config.paths.driver_dir() / "mlartifacts").resolve())


def check_reachable(uri: str, timeout_s: float) -> None:
    """Raise TrackingError unless the store answers within `timeout_s` (never hangs)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
                pass
        except OSError as exc:
            raise TrackingError(
                f"tracking server {redacted(uri)} cannot be reached within {timeout_s:g}s "
                f"({exc}). Start it, fix tracking.uri / MLFLOW_TRACKING_URI, or set "
                "tracking.enabled: false"
            ) from None
    elif (db := sqlite_database(uri)) is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(
                f"tracking store {redacted(uri)}: cannot create {db.parent} ({exc})"
            ) from None


def check_store_uri(config) -> None:
    """Before Spark starts: TrackingError when tracking is on and its URI names a directory
    (a plain path or file://), which MLflow 3 no longer accepts as a tracking store; it was
    refused only when the training step connected, after Spark and the data steps."""
    if not config.tracking.enabled:
        return
    uri = tracking_uri(config)
    kind = scheme(uri)  # a drive letter (C:/x) is a path; urlparse says scheme "c"
    if kind == "file" or (kind == "" and uri != "databricks"):
        source = "tracking.uri" if config.tracking.uri else "MLFLOW_TRACKING_URI"
        raise TrackingError(
            f"{source} {uri!r} is a directory: MLflow 3 does not take a file store. Use "
            f"sqlite:///<path>/mlflow.db (a file, created when missing), a tracking server "
            f"(http://host:5000), or set tracking.enabled: false"
        )


def require_store(uri: str) -> None:
    """TrackingError when `uri` is a sqlite store whose database file does not exist."""
    db = sqlite_database(uri)
    if db is not None and not db.is_file():
        where = db if db.is_absolute() else (
            f"{db.resolve()}: a relative sqlite path is read from the directory fraud-app "
            f"runs in, {Path.cwd()}"
        )  # fmt: skip
        raise TrackingError(
            f"tracking store {uri} does not exist (no file {where}), so no model is registered "
            "there. Check paths.root / tracking.uri / MLFLOW_TRACKING_URI (the store of "
            "`fraud-app train` is <paths.root>/mlflow.db by default)"
        )


def connect(config, *, must_exist: bool = False) -> Store:
    """Set the tracking and registry URI for this process; get or create the experiment.
    must_exist: a command that only reads the registry (models, promote, a models:/ URI)
    refuses a sqlite store whose file does not exist instead of creating an empty one there
    (a wrong paths.root or tracking.uri then said the model does not exist; train one)."""
    if must_exist:
        require_store(tracking_uri(config))
    store = open_store(config)
    logger.info("tracking: %s experiment %r (%s)", redacted(store.uri), store.experiment_name,
                redacted(store.artifact_location))  # fmt: skip
    return store


def open_store(config) -> Store:
    """`connect` without its log line. Waits while another thread opens a store (at most
    tracking.flush_timeout_s: a store created on a busy machine takes tens of seconds)."""
    t0 = time.monotonic()
    timeout = max(config.tracking.connect_timeout_s, config.tracking.flush_timeout_s)
    locked = _open_lock.acquire(timeout=timeout)
    if not locked:
        logger.warning("another thread has been opening the tracking store for %.0f s; "
                       "opening it here", time.monotonic() - t0)  # fmt: skip
    try:
        return _open_store(config)
    finally:
        if locked:
            _open_lock.release()


def _open_store(config) -> Store:
    uri = tracking_uri(config)
    timeout = config.tracking.connect_timeout_s
    check_reachable(uri, timeout)  # before `import mlflow` (seconds): fail fast
    import mlflow

    redact_mlflow_logs()

    settings.bound_mlflow_http_waits(timeout)
    if scheme(uri).split("+", 1)[0] in ("http", "https", "databricks"):  # MLflow's REST
        seconds, source = settings.mlflow_request_deadline(config.tracking.request_deadline_s)
        http_deadline.install(http_deadline.Deadline(uri, seconds, source))
    else:  # a database or file store makes no HTTP request: nothing wrapped (review46c)
        http_deadline.restore(None)
    with settings.mlflow_tracking_uri_kept():  # MLflow exports the URI it is given
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    name = config.tracking.experiment
    # one process at a time creates / migrates an embedded store and its experiment
    # (concurrent migrations left it broken); fraud_app.tracking.store_lock
    lock = store_lock(uri, config.tracking.flush_timeout_s, "opening the store")
    try:
        with lock:
            client = mlflow.MlflowClient(uri)
            exp = client.get_experiment_by_name(name)
            if exp is None:
                location = default_artifact_location(config) if _is_local(uri) else None
                exp_id = client.create_experiment(name, artifact_location=location)
                exp = client.get_experiment(exp_id)
            elif _followed_a_move(uri, exp.artifact_location):
                exp = client.get_experiment(exp.experiment_id)
    except TrackingError:
        raise
    except Exception as exc:  # MlflowException, requests errors, sqlalchemy errors
        raise store_error(uri, f"cannot open experiment {name!r}", exc) from exc
    return Store(uri, exp.experiment_id, name, exp.artifact_location)


def _followed_a_move(uri: str, recorded: str | None) -> bool:
    """True when the embedded store was moved or copied with its artifacts and its
    artifact paths now name the new place (fraud_app.tracking.relocation)."""
    db = sqlite_database(uri)
    return db is not None and bool(recorded) and follow_moved_artifacts(db, recorded) is not None


def redact_mlflow_logs() -> None:
    """MLflow logs through handlers of its own (`mlflow`, `alembic`, ... do not propagate to
    the root logger, where the CLI's handlers redact): the same redaction on those, so a
    line quoting a request URL or a store URI shows `***@` (fraud_app.redaction)."""
    for name in ("mlflow", "sqlalchemy.engine", "alembic", "huey"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


def store_error(uri: str, doing: str, exc: BaseException) -> TrackingError:
    """One line for a failed store call, without the credentials of `uri`: a server that
    accepts connections but does not answer within the deadline is named as such (MLflow
    said "Max retries exceeded ... Read timed out" in a 400-character line); any other
    failure: the first line of its message (sqlalchemy appends the SQL and a link)."""
    if (late := http_deadline.deadline_exceeded(exc)) is not None:
        return late.again(doing)
    text = str(exc)
    if "Read timed out" in text or "ReadTimeout" in text:
        seconds, source = settings.mlflow_request_timeout()
        return TrackingError(
            f"tracking server {redacted(uri)} {doing}: it accepts connections but did not "
            f"answer within {seconds}s ({source}, per request). Check that an MLflow server "
            "listens there (not another service) and is not stuck or overloaded (its logs), "
            f"raise {source}, or set tracking.enabled: false"
        )
    why = (text.strip().splitlines() or [type(exc).__name__])[0]
    return TrackingError(f"tracking store {redacted(uri)}: {doing}: {redacted(why)}")


def _is_local(uri: str) -> bool:
    return scheme(uri).split("+", 1)[0] in ("sqlite", "file", "")


def client(uri: str):
    """An MlflowClient for `uri` (tracking and registry)."""
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def ui_hint(config) -> str | None:
    """How to look at the runs: the `mlflow ui` command for a local store, else the server URL."""
    if not config.tracking.enabled:
        return None
    uri = tracking_uri(config)
    if uri.startswith(("http://", "https://")):
        return f"open {redacted(uri)}"
    shown = redacted(uri)  # postgresql://u:password@h/db: the password is not printed
    hidden = " (with the store's credentials in place of ***)" if shown != uri else ""
    return (
        f"mlflow ui --backend-store-uri {shlex.quote(shown)} --host 127.0.0.1 --port 5000{hidden}"
    )


def log_files(config, run_id: str | None, files, root, artifact_path: str) -> int:
    """Log `files` (paths under `root`) to an existing run, keeping their layout under root.

    For outputs written after the run ended (the dashboards). Returns how many were logged;
    does nothing when tracking is off or there is no run.
    """
    from pathlib import Path

    if not config.tracking.enabled or not run_id:
        return 0
    mlflow_client = client(tracking_uri(config))
    root = Path(root)
    for f in map(Path, files):
        rel = f.parent.relative_to(root) if f.is_relative_to(root) else Path()
        sub = f"{artifact_path}/{rel}".rstrip("/.") if str(rel) != "." else artifact_path
        mlflow_client.log_artifact(run_id, str(f), artifact_path=sub)
    return len(files)
