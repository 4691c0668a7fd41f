"""A migrated, empty MLflow sqlite store, made once per test process and copied per test.

Opening a NEW sqlite store runs MLflow's schema migrations (alembic: ~2 s of CPU, more on a
loaded machine); dozens of tests each need a store of their own. `make_template` lets MLflow
create one real store the usual way (the migrations, then the Default experiment), keeps a
dump of it as the reference, and deletes the Default experiment row: a copy of that file is
then an empty, fully migrated store, and MLflow's first open of a copy creates the Default
experiment there, as in a new store (with its artifact location, its creation time).
tests/test_mlflow_store.py checks that a copy opened by MLflow dumps as the reference does.

Tests whose subject is the creation of a store (warm-up, the store lock, a missing store)
do not use it: they need the migrations to run.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_MILLIS = re.compile(r"\b\d{13}\b")  # creation / update times (epoch milliseconds)


@dataclass(frozen=True)
class StoreTemplate:
    path: Path  # migrated store without the Default experiment
    reference: str  # dump of the store MLflow created, times masked

    def copy_to(self, root: Path | str, name: str = "mlflow.db") -> Path:
        """`root/name`: a new, independent copy (root is created). Refuses to replace a file:
        a test that copies over a store it already wrote to would lose its runs."""
        db = Path(root) / name
        if db.exists():
            raise FileExistsError(f"{db} exists: a fresh store is copied only where none is")
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, db)
        return db


def dump(db: Path) -> str:
    """The store's schema and rows as SQL, times masked (they differ between two stores)."""
    with sqlite3.connect(db) as conn:
        text = "\n".join(conn.iterdump())
    conn.close()
    return _MILLIS.sub("<ms>", text)


def open_store(db: Path) -> None:
    """Open `db` as MLflow does for a tracking and registry store (creates a new one)."""
    import mlflow

    uri = f"sqlite:///{db}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()
    client.search_registered_models()


def make_template(folder: Path) -> StoreTemplate:
    made = folder / "created.db"
    open_store(made)  # migrations + the Default experiment, by MLflow itself
    reference = dump(made)
    template = folder / "template.db"
    shutil.copyfile(made, template)
    with sqlite3.connect(template) as conn:
        gone = conn.execute("DELETE FROM experiments WHERE experiment_id = 0").rowcount
    conn.close()
    if gone != 1:
        raise RuntimeError(f"{made}: MLflow created no Default experiment (id 0) to remove")
    return StoreTemplate(template, reference)
