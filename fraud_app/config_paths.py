"""`paths`: where each step reads and writes, as Spark and as Python name it.

Two kinds of place. Spark reads and writes the tables (raw, canonical, quarantine,
features, scores, test_scores): `PathsSection.resolve` gives them as text, joined to
paths.root with `join` so a URI keeps its scheme and authority exactly
(`hdfs://nn:8020/d` + `canonical` is `hdfs://nn:8020/d/canonical`; pathlib collapsed the
`//`, and Hadoop read `nn:8020` as a folder on the default name node). Python itself
opens the driver's files (reports, models, checkpoints, the run locks, the unlock audit,
the model cache, the embedded MLflow store): `PathsSection.local` / `driver_dir` give a
local `Path`, under `paths.local_root` (else paths.root), which must be on this machine.
A remote root without `paths.local_root` is refused when the config is read, naming every
setting that needs a local value (it made folders named `hdfs:` in the working directory).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from fraud_app.config_base import Section
from fraud_app.errors import ConfigError
from fraud_app.uris import joinable, local_path, redacted, scheme

# what Python opens on the driver; relative values live under the driver's directory
DRIVER_NAMES = ("reports", "models", "checkpoints")
_DRIVER_FILES = (
    "the run locks, the readers' registrations, `unlock --force`'s audit, the model cache, "
    "the embedded MLflow store (mlflow.db, mlartifacts)"
)


def join(base: str, *parts: str) -> str:
    """`base` with `parts` appended, each after one '/': a URI's scheme, authority and path
    stay as written (`hdfs://nn:8020/d`, `hdfs:///d`, `s3a://b/k`, `abfss://c@a/p`, `gs://b`),
    nothing is normalised (no `..` folding, a trailing '/' of the last part kept)."""
    out = base
    for part in parts:
        out = out + part if out.endswith("/") else f"{out}/{part}"
    return out


def _place(base: str, value: str) -> str:
    """`value` as Spark reads it: a URI or absolute path as given, else under `base`. A local
    `base` joins as pathlib always did (`work` + `raw/` is `work/raw`); a URI base as text."""
    if scheme(value) != "" or Path(value).is_absolute():
        return value
    base = joinable(base)
    return join(base, value) if scheme(base) != "" else str(Path(base) / value)


class PathsSection(Section):
    """Where each step reads and writes. Relative paths resolve against `root` (Spark's
    tables) or the driver's directory (`local_root`, else `root`: reports, models,
    checkpoints). A URI root (`hdfs://nn:8020/data/fraud`, `s3a://bucket/p`,
    `abfss://c@acct.dfs.core.windows.net/p`, `gs://b/p`) keeps its scheme and authority.
    `local_root`: a local directory of the driver for what Python itself opens (reports,
    models, checkpoints, the run locks, the unlock audit, the model cache, the embedded
    mlflow.db and mlartifacts); None = `root`, which must then be local. Required with a
    remote root. None may be empty: `raw: ""` resolved to paths.root itself."""

    root: str = Field("work", min_length=1)
    local_root: str | None = Field(None, min_length=1)
    raw: str = Field("raw", min_length=1)
    canonical: str = Field("canonical", min_length=1)
    quarantine: str = Field("quarantine", min_length=1)
    features: str = Field("features", min_length=1)
    reports: str = Field("reports", min_length=1)
    models: str = Field("models", min_length=1)
    checkpoints: str = Field("checkpoints", min_length=1)
    # the batch scoring job's table (event_date=YYYY-MM-DD/)
    scores: str = Field("scores", min_length=1)
    # A training run's test-window scores, <test_scores>/<run>/: kept apart from `scores`
    # so that the batch job's partitioned table stays readable as one Spark table.
    test_scores: str = Field("test-scores", min_length=1)

    @model_validator(mode="after")
    def _driver_is_local(self) -> PathsSection:
        """One error naming every setting Python would open off this machine."""
        problems = []
        if self.local_root is not None and local_path(self.local_root) is None:
            problems.append(
                f"paths.local_root {redacted(self.local_root)!r} is not on this machine: "
                "give a local directory (an absolute path or a file: URI)"
            )
        elif self.local_root is None and local_path(self.root) is None:
            problems.append(
                f"paths.root {redacted(self.root)!r} is remote, so paths.local_root must name "
                f"a local directory of the driver for what Python itself opens ({_DRIVER_FILES}, "
                "and paths.reports / models / checkpoints when relative), e.g. "
                "paths.local_root: /var/lib/fraud-app. On a cluster, give the same shared "
                "directory to every host that runs fraud-app against this root: its locks "
                "only hold back the runs that see them"
            )
        for name in DRIVER_NAMES:
            value = getattr(self, name)
            if scheme(value) != "" and local_path(value) is None:
                problems.append(
                    f"paths.{name} {redacted(value)!r} is not on this machine, but the driver "
                    "writes it with Python: give a local path or a file: URI (relative: under "
                    "paths.local_root, else paths.root)"
                )
        if problems:
            raise ValueError("\n    ".join(problems))  # one line each under `paths:`
        return self

    def resolve(self, name: str, *parts: str) -> str:
        """`name` (then `parts`, e.g. a run name) as Spark reads it: a URI or absolute path
        as given, else under root; text, so a URI's `//authority` cannot be lost (a `file:`
        root's stays a URI: local whatever the cluster's default file system)."""
        return join(_place(self.root, getattr(self, name)), *parts)

    def driver_root(self) -> str:
        """The driver's directory as configured: paths.local_root, else paths.root (local;
        the validator refused a remote root without local_root). RootLock, the readers'
        registry and `unlock` take it as text."""
        return joinable(self.local_root or self.root)

    def driver_setting(self) -> str:
        """The key `driver_root` came from, for errors: paths.local_root or paths.root."""
        return "paths.local_root" if self.local_root is not None else "paths.root"

    def driver_dir(self) -> Path:
        """`driver_root` as Python opens it (mlflow.db, the model cache): a `file:` URI as
        its local path (not a folder `file:` in the working directory)."""
        found = local_path(self.driver_root())
        if found is None:  # only a copy built without validation gets here
            raise ConfigError(f"paths.root {redacted(self.root)!r} is remote: set paths.local_root")
        return found

    def local(self, name: str) -> Path:
        """`name` as Python opens it: reports, models, checkpoints under the driver's
        directory; a table (test_scores for the dashboards and prune) where Spark wrote it,
        a `file:` URI as its local path. ConfigError for a table on remote storage: Python
        cannot open it (`local_or_none` for a caller that skips it)."""
        found = self.local_or_none(name)
        if found is None:
            raise ConfigError(
                f"paths.{name} {redacted(self.resolve(name))!r} is not on this machine: "
                "fraud-app's Python side cannot open it"
            )
        return found

    def local_or_none(self, name: str) -> Path | None:
        """`local(name)`, or None where the table lies on remote storage."""
        if name in DRIVER_NAMES:
            return local_path(_place(self.driver_root(), getattr(self, name)))
        return local_path(self.resolve(name))
