"""An embedded (sqlite) store moved or copied with its artifacts: follow it.

MLflow records absolute artifact paths in the store (the experiment's artifact location,
each run's artifact URI, each logged model's and registered version's files). After a
project root is moved (`mv`), copied (`cp -a`, a tar unpacked elsewhere) or its store is
read through another path, those paths name the old place: `score` of the champion found
no files there (`holds no ensemble`), and `train` wrote its new run's artifacts into the
old place (re-creating it, or into the original project of a copy), then failed at the
gate.

`follow_moved_artifacts` runs when the store is opened: when the experiment's recorded
location is not the folder of the same name beside the database, and that folder holds
this store's own run folders (`<location>/<run id>`: run ids are unique, so it is this
store's artifacts, copied along), every artifact path of the store under the old
location is rewritten to the new one, in one transaction, with one WARNING naming both.
Only the runs of the experiments recorded at that location count as its folders (another
experiment of the store, at its own `tracking.artifact_location`, was rewritten into the
first one's folder when both folders had the same name). When the recorded location does
not exist here (a move, or another machine's mount of the store at another path), nothing
is rewritten while one of those runs is RUNNING: a run in progress on a machine that sees
the store at the recorded path would write its model under the new path, which that
machine may not have, and its next command would rewrite the store back (one WARNING
says so; a model absent at its recorded path is still read beside the database). A copy
(both folders here) is followed: its own database is rewritten, not the original's.
Paths recorded as parameters (what a run was given) are history and stay as written.

A store that cannot be written (a scoring machine's read-only mount of the root, at
another path than the training machine's) is not rewritten; `beside_store` finds a
model's files there instead (the same layout under the folder of the same name beside
the database), so a read-only store is read wherever it is mounted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import urllib.parse
from pathlib import Path

from fraud_app.errors import TrackingError
from fraud_app.tracking.store_lock import writable_here
from fraud_app.uris import local_path, scheme

logger = logging.getLogger(__name__)

# (table, column) holding artifact paths of MLflow 3's sqlite schema
_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def recorded_path(recorded: str) -> Path | None:
    """The local path MLflow reads an artifact location or URI of its store as; None when
    it is not local. A `file:` URI is percent-decoded and ends at a `?` or `#`, as MLflow's
    `local_file_uri_to_path` reads it (`file:///srv/a%20b` is `/srv/a b`); a plain path is
    taken as it is (fraud_app.uris.local_path)."""
    path = local_path(recorded)
    if path is None or scheme(recorded) != "file":
        return path
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(recorded).path) or "/")


def moved_location(db: Path, recorded: str) -> Path | None:
    """The folder beside `db` that holds the artifacts `recorded` names, when the store was
    moved or copied with them; None when `recorded` is that folder, is not local, or no
    such folder with this store's runs exists."""
    old = recorded_path(recorded)
    if old is None or not old.is_absolute():
        return None
    new = db.resolve().parent / old.name
    if new == old or not new.is_dir() or (old.is_dir() and os.path.samefile(old, new)):
        return None  # the same folder (also through a bind mount or a link): nothing moved
    runs = [run for run, _ in _runs_of(db, recorded)]
    if not any((new / run).is_dir() for run in runs):
        return None
    return new


def _runs_of(db: Path, recorded: str) -> list[tuple[str, str]]:
    """(run id, status) of the runs of the experiments whose location is `recorded`: only
    their folders show that a folder beside `db` holds these artifacts (another experiment
    of the store, at its own `tracking.artifact_location`, can have a folder of the same
    name beside the database holding the first one's runs)."""
    read_only = f"{db.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(read_only, uri=True)) as conn:
        return conn.execute(
            "SELECT run_uuid, status FROM runs WHERE experiment_id IN "
            "(SELECT experiment_id FROM experiments WHERE artifact_location = ?)",
            (recorded,),
        ).fetchall()


def follow_moved_artifacts(db: Path, recorded: str) -> str | None:
    """Rewrite the store's artifact paths from `recorded` to the folder beside `db` when
    the store moved with its artifacts (see the module doc); the new location, or None
    when nothing moved or the store cannot be written here (read-only: `beside_store`
    reads it). TrackingError when the update fails (it is rolled back)."""
    new = moved_location(db, recorded)
    if new is None or not writable_here(db):  # read-only: read via beside_store
        return None
    old = str(recorded_path(recorded))
    if not Path(old).exists() and (
        running := [run for run, status in _runs_of(db, recorded) if status == "RUNNING"]
    ):  # a copy's own store is rewritten: a run of the original writes the original's
        logger.warning(
            "tracking store %s records its artifacts under %s, and its folder %s beside the "
            "database holds them (moved, or the same store mounted at another path by "
            "another machine), but run(s) %s are in progress: the paths are not "
            "rewritten under a running run (its model would go under %s, which its own "
            "machine may not have); a model absent under %s is read from %s meanwhile. A "
            "run killed without ending stays RUNNING: end it, then run the command again "
            "(mlflow.MlflowClient(<tracking uri>).set_terminated(<run id>, 'KILLED'))",
            db, old, new, ", ".join(running[:5]), new, old, new,
        )  # fmt: skip
        return None
    prefixes = [(old, str(new))]
    # without a trailing `/`: a location given as `file:///srv/a/` holds its runs at
    # `file:///srv/a/<run>`, which the prefix `file:///srv/a//` missed (only the experiment
    # followed the move; session 37 review)
    before = recorded.rstrip("/") or recorded
    if before != old:  # a file: URI, recorded as such: written percent-encoded, since
        # MLflow decodes it (`file://<new>` with a `#`, `?` or `%` in the new path named
        # another folder: `/srv/p#1` was read as `/srv/p`; session 37)
        prefixes.append((before, new.as_uri()))
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            for table, column in _COLUMNS:
                for before, after in prefixes:
                    conn.execute(
                        f'UPDATE {table} SET "{column}" = ? || substr("{column}", ?) '
                        f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                        (after, len(before) + 1, before, len(before) + 1, before + "/"),
                    )
    except sqlite3.Error as exc:
        raise TrackingError(
            f"tracking store {db} records its artifacts under {old}, but they are now at "
            f"{new} (the store was moved or copied with them), and updating its paths "
            f"failed ({exc}); nothing was changed. Run the command again once no other "
            "process writes the store"
        ) from None
    logger.warning(
        "tracking store %s was moved or copied: its artifacts, recorded under %s, are "
        "read and written under %s from now on (the store's artifact paths rewritten)",
        db, old, new,
    )  # fmt: skip
    return str(new)


def beside_store(db: Path, missing: Path) -> Path | None:
    """`missing` (a path the store records, absent here) as it lies beside `db`: the part
    after one of its folders (`<old>/mlartifacts/models/m-<id>/artifacts`) under the
    folder of that name beside the database, when that exists; else None."""
    if not missing.is_absolute():
        return None
    here = db.resolve().parent
    for parent in missing.parents:
        if parent.name and (here / parent.name).is_dir():
            found = here / parent.name / missing.relative_to(parent)
            if found.exists():
                return found
    return None
