"""Checks of what a SparkSession is given, made before its JVM starts (a wrong value
failed a minute later inside Spark, after a JVM stack trace): the form of the master URL
(`check_master`), local paths Hadoop cannot read (`check_hadoop_paths`), the driver's
addresses (`check_driver_addresses`); the task slots a barrier stage needs
(`check_barrier_slots`); and the one line for a session that did not start
(`startup_failure`).

Owns these checks and their messages; building the session and its conf is
fraud_app.spark.session's (which re-exports these names), checks of the Spark version and
of conf keys are fraud_app.spark.versions' and fraud_app.spark.conf_keys'.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from fraud_app.config_paths import DRIVER_NAMES
from fraud_app.errors import ConfigError
from fraud_app.uris import local_path

_SPARK_PLACES = ("input", "output", "quarantine")  # a step section's own tables, when set


def check_hadoop_paths(config) -> None:
    """ConfigError naming each local path Spark would be given that holds a `:` in a folder
    name (`/srv/runs/2024-01-01T00:00/work`): Hadoop, through which Spark lists, reads and
    writes, reads such a name as a URI scheme and every step failed after the JVM started
    with `URISyntaxException: Relative path in absolute URI`. Relative `paths.*` values are
    checked under paths.root (reports, models, checkpoints under the driver's directory,
    paths.local_root else paths.root: where they are written), other relative places
    (`etl.input`, ...) under the working directory, as Spark resolves them; remote URIs are
    left to their file system."""
    root, driver = local_path(config.paths.root), local_path(config.paths.driver_root())
    base = None if root is None else Path(os.path.abspath(root))
    bases = dict.fromkeys(
        (f"paths.{name}" for name in DRIVER_NAMES),
        None if driver is None else Path(os.path.abspath(driver)),
    )
    places = [
        (f"paths.{name}", getattr(config.paths, name))
        for name in type(config.paths).model_fields
        if getattr(config.paths, name) is not None  # paths.local_root: None = paths.root
    ]
    for section in type(config).model_fields:
        for key in _SPARK_PLACES if section != "paths" else ():
            value = getattr(getattr(config, section), key, None)
            if isinstance(value, str):
                places.append((f"{section}.{key}", value))
    problems, seen = [], set()
    for key, value in places:
        path = local_path(value)
        own = key in ("paths.root", "paths.local_root")  # relative: under the working directory
        under = bases.get(key, base) if key.startswith("paths.") and not own else Path.cwd()
        if path is None or (under is None and not path.is_absolute()):
            continue  # remote, or under a remote root
        full = Path(os.path.abspath(under / path))
        named = next((i for i, part in enumerate(full.parts) if ":" in part), None)
        if named is not None and (folder := Path(*full.parts[: named + 1])) not in seen:
            seen.add(folder)  # one line per such folder: paths.root's names its whole tree
            problems.append(f"{key} {value!r} is under {str(folder)!r}")
    if problems:
        raise ConfigError(
            "Spark cannot use a local path with ':' in a folder name (Hadoop reads it as a "
            "URI scheme: 'Relative path in absolute URI'):\n  "
            + "\n  ".join(problems)
            + "\nRename the folder, or set these paths to a folder whose names hold no ':'"
        )


MASTER_URL = re.compile(
    r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|yarn"
    r"|(spark|k8s|mesos)://\S+"
)


def check_master(master: str, source: str = "spark.master") -> str:
    """`master` if it has the form of a Spark master URL, else a ConfigError saying which
    forms do. `source`: where the value came from (the config or CLI, or the environment
    variable FRAUD_APP_SPARK_MASTER, which the message then names)."""
    zero = re.fullmatch(r"local\[0+(,\d+)?\]|local-cluster\[(0+,\d+|\d+,0+),\d+\]", master)
    if zero:  # Spark failed to start after a JVM stack trace ("Asked to run locally with 0
        # threads")
        raise ConfigError(
            f"{source} {master!r} asks for 0 threads (or workers, cores); expected local[N] "
            "with N >= 1, local[*], or local-cluster[W,C,MB] with W, C >= 1"
        )
    if not MASTER_URL.fullmatch(master):
        fix = (
            "Set spark.master in the config or pass --master"
            if source == "spark.master"
            else f"Fix or unset the environment variable {source}, or set spark.master in the "
            "config or pass --master"
        )
        raise ConfigError(
            f"{source} {master!r} is not a Spark master URL; expected local[*], local[N], "
            f"spark://host:7077, yarn or k8s://https://host:port. {fix}"
        )
    return master


def check_driver_addresses(conf: Mapping[str, str]) -> None:
    """`spark.driver.host` must resolve and `spark.driver.bindAddress` be an address of
    this machine, before the JVM starts: Spark logged a 50-line JVM trace
    (`java.nio.channels.UnresolvedAddressException`) a minute later, before our error line.
    The trainer's rendezvous and report servers listen on them too."""
    import socket

    host = conf.get("spark.driver.host")
    if host:
        try:
            socket.getaddrinfo(host[1:-1] if host.startswith("[") else host, None)  # [::1]
        except (socket.gaierror, UnicodeError) as exc:
            raise ConfigError(
                f"spark.conf spark.driver.host {host!r} does not resolve on this machine "
                f"({getattr(exc, 'strerror', None) or exc}); give the driver's host name or "
                "IP address that executors can reach, or leave it out"
            ) from None
    bind = conf.get("spark.driver.bindAddress")
    if bind:
        from dlcore.collective.wire import open_listener  # the servers' own bind, IPv6 too

        try:
            with open_listener(bind):
                pass
        except (OSError, UnicodeError) as exc:  # CommunicationError is an OSError
            raise ConfigError(
                f"spark.conf spark.driver.bindAddress {bind!r} is not an address of this "
                f"machine ({getattr(exc, 'strerror', None) or exc}); give one of its own "
                "addresses (e.g. 0.0.0.0), or leave it out"
            ) from None


def startup_failure(master: str, exc: BaseException) -> str:
    """One line for a SparkSession that did not start. A Py4JJavaError's first line only
    says which call failed (`An error occurred while calling None.org...SparkSession.`): the
    Java exception comes on the line after it. A standalone master that never answers stops
    the context while the session starts (Spark logs `All masters are unresponsive`), which
    reaches Python as `Cannot call methods on a stopped SparkContext`: said in words here."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    java = [ln.removeprefix(": ") for ln in lines if ln.startswith(": ")]
    detail = (java or lines or [type(exc).__name__])[0][:300]
    if master.startswith("spark://") and "stopped SparkContext" in detail:
        detail = (
            f"no master answered at {master[len('spark://') :]} (Spark gave up registering "
            "after its retries, about a minute): is the master running there, and is that "
            "host:port reachable from this machine?"
        )
    return (
        f"Spark could not start on master {master!r}: {detail}. Check spark.master / "
        "--master and spark.conf in the config"
    )


LOCAL_MASTER = re.compile(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?")


def check_barrier_slots(sc, num_workers: int) -> None:
    """A barrier stage needs `num_workers` task slots at once. On a local master the slots
    are known up front, and too few would fail only after Spark's slot check gives up (~2
    minutes per attempt, 4 attempts): say so now. A cluster master's slots are not checked
    here (executors may still be registering; the stage's own check decides, and the stage
    job names its refusal), but dynamic allocation, which Spark refuses at once, is."""
    match = LOCAL_MASTER.fullmatch(sc.master.strip())
    if not match:
        # Spark refuses barrier stages under dynamic allocation (SPARK-24942; local
        # masters ignore the setting), and YARN / Dataproc / EMR often enable it.
        if str(sc.getConf().get("spark.dynamicAllocation.enabled", "false")).lower() == "true":
            raise ConfigError(
                f"spark.dynamicAllocation.enabled = true on Spark master {sc.master}: Spark "
                f"does not run barrier stages (distributed training) with dynamic allocation. "
                f"Set spark.dynamicAllocation.enabled: 'false' under spark.conf in the config "
                f"(or --conf spark.dynamicAllocation.enabled=false with spark-submit)"
            )
        return
    given = match.group(1) or "1"
    cores = (os.cpu_count() or 1) if given == "*" else int(given)
    task_cpus = int(sc.getConf().get("spark.task.cpus", "1") or 1)
    slots = cores // max(task_cpus, 1)
    if num_workers > slots:
        raise ConfigError(
            f"num_workers = {num_workers} needs {num_workers} task slots at once (one barrier "
            f"task per worker), but Spark master {sc.master} has {slots} "
            f"(spark.task.cpus={task_cpus}). Set training.distributed.num_workers (numWorkers "
            f"of the fraud_app.ml estimators) to at most {slots}, or run on more cores "
            f"(--master local[{num_workers * task_cpus}]) or a cluster"
        )
