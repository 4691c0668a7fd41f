"""SparkSession factory: one place that knows how we configure Spark.

Works unchanged on `local[*]`, `spark://...`, YARN and Kubernetes: the master
comes from config/CLI; everything else has laptop-friendly defaults that a
user's `spark_conf` overrides. The checks of what the session is given, before its JVM
starts, are fraud_app.spark.session_checks' (their names are re-exported here).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

from fraud_app import settings
from fraud_app.errors import ConfigError, EnvironmentSetupError
from fraud_app.redaction import SECRET_KEY, redact_value
from fraud_app.spark import jvm_functions, progress
from fraud_app.spark.arguments import require_session
from fraud_app.spark.cluster_defaults import file_defaults, pin_settings
from fraud_app.spark.conf_keys import check_conf_keys
from fraud_app.spark.connect import refuse_spark_remote, session_master
from fraud_app.spark.fd_limit import check_open_files
from fraud_app.spark.session_checks import (
    LOCAL_MASTER,
    check_driver_addresses,
    check_hadoop_paths,
    check_master,
    startup_failure,
)
from fraud_app.spark.session_checks import MASTER_URL as MASTER_URL
from fraud_app.spark.session_checks import check_barrier_slots as check_barrier_slots
from fraud_app.spark.versions import check_before_start, check_session
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Fail within ~2 min (Spark's default: 40 x 15 s) when a barrier stage needs more task
    # slots than the cluster has, leaving executors that register slowly time to arrive.
    "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "5s",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "24",
    "spark.driver.memory": "4g",
    # Our tables are partitioned by event_date: with Spark's default (32) every read of a
    # table of more than 32 days lists its folders in a Spark job (60 tasks for 60 days;
    # ~1.5 s a read on local[2], 5-8 s under load, vs 0.3-1.3 s listed by the driver).
    # Up to 512 folders (~1.4 years of days) the driver lists them itself.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "512",
    # Past it, Spark lists them in a job of one task per folder (its default cap is 10,000):
    # a table of 1,000 dates was a 1,000-task job on every read (7-17 s of schema discovery
    # on local[2] under load, vs 2-3 s with 64 tasks; session 30, probe30a). 64 tasks list
    # 10 years of days at ~57 folders each, and still spread over a cluster's executors.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "64",
    # PySpark 4 wraps every Column function in a call-site capture for error messages (a
    # walk of the Python stack and ~20 Py4J round trips each: F.col 29, alias 24, F.lit 3
    # without it). Our steps build thousands of Columns (ETL rules, 50 window features, GX's
    # per-check queries): ~100k round trips per run, tens of seconds of driver time on a
    # busy machine. Errors keep their message and plan; only the Python line is not named.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
    # The tables hold card ids (canonical, features, scores). Hadoop's file systems give a
    # new file 0666 and a new folder 0777 less THEIR umask (022 unless set), not the
    # process's: under umask 077 Spark still wrote 0644 files in 0755 folders, readable by
    # every local user wherever paths.root let them in (an existing 0755 root). 077: 0600
    # files, 0700 folders, like the models and checkpoints (docs/PROBES.md, sec39). Read
    # when the JVM starts (set on a running session it changed nothing). A team that reads
    # the tables through a group sets "027" in spark.conf or spark-defaults.conf.
    "spark.hadoop.fs.permissions.umask-mode": "077",
    # What Spark itself masks (SQL `SET`, the UI's and REST API's environment, the event
    # log): the keys fraud_app masks. Spark's default, secret|password|token|access.key,
    # showed fs.azure.account.key.*, fs.gs.auth.service.account.private.key and
    # fs.s3a.encryption.key in clear (session 51). Read when the JVM starts.
    "spark.redaction.regex": SECRET_KEY.pattern,
}

# On a local master the driver JVM is also the only executor, started for one command: a
# batch job on few cores, where throughput counts and pauses do not. The JVM picks G1 on a
# "server-class" machine; the parallel collector's cheaper write barriers and collections
# cost less CPU for the same work (docs/BENCHMARKS.md, "session 18 (helper e2e18)"). The
# collector does not change any result. Applied only when the config sets no
# spark.driver.extraJavaOptions of its own (that value wins whole).
LOCAL_DRIVER_JAVA_OPTIONS = "-XX:+UseParallelGC"
_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


ARCHIVE_ALIAS = "environment"
ARCHIVE_PYTHON = f"./{ARCHIVE_ALIAS}/bin/python"


def archive_settings(
    master: str, env_archive: str, conf: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Spark conf and driver environment that ship a packed Python environment to executors.

    The route of Spark's own "Python Package Management" guide: the archive goes out with
    `spark.archives` (unpacked as ./environment in every executor's working directory) and
    PYSPARK_PYTHON names the interpreter inside it. On local masters the executors are the
    driver's own processes, so the archive is not used there (returns nothing).
    Returns (conf updates, environment variables for the driver process).
    """
    if master.startswith("local"):
        return {}, {}
    local = local_path(env_archive)  # None: remote (hdfs:/x, s3a://b/x; fraud_app.uris)
    if local is not None and not local.is_file():
        raise ConfigError(
            f"spark.env_archive: {env_archive} does not exist. Create it with "
            "`fraud-app pack-env OUT.tar.gz`, or give an hdfs://, s3a://, gs:// URI."
        )
    # a file: URI, percent-encoded: Spark splits spark.archives at ',' and reads what
    # follows '#' as the alias; a plain path holding a space is no URI to Spark
    # (Utils.resolveURI), which then took `#environment` for part of the file's name
    source = env_archive if local is None else local.resolve().as_uri()
    existing = (conf or {}).get("spark.archives", "")
    archives = ",".join(x for x in (existing, f"{source}#{ARCHIVE_ALIAS}") if x)
    return {"spark.archives": archives}, {"PYSPARK_PYTHON": ARCHIVE_PYTHON}


def _choose_master(master: str | None, submitted: dict[str, str] | None) -> str:
    """Config/CLI > FRAUD_APP_SPARK_MASTER > local[*]; under spark-submit, its --master wins."""
    if submitted is not None:
        chosen = submitted.get("spark.master", "local[*]")
        if master and master != chosen:
            logger.warning("spark-submit's --master %s wins over the configured %s", chosen, master)
        return chosen
    if master is None and (env := settings.spark_master_default()) is not None:
        return check_master(env, source="FRAUD_APP_SPARK_MASTER")
    return check_master(master or "local[*]")


def submitted_conf() -> dict[str, str]:
    """What spark-submit set (--master, --conf, --driver-memory, spark-defaults.conf), read
    from the driver JVM it started. A plain `SparkConf()` is empty in Python until the
    gateway is joined, so the app's defaults and the config's spark.conf overrode
    spark-submit's own values (a `--conf spark.sql.shuffle.partitions=7` ran with 8)."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # joins spark-submit's gateway; creates no context
    return dict(SparkConf().getAll())


def merged_conf(
    user: Mapping[str, str] | None,
    submitted: dict[str, str] | None,
    cluster: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """DEFAULT_CONF < the config's spark.conf, then, under spark-submit, its values win
    (command line over file, as everywhere): only what spark-submit left unset is filled
    in, and a config value that spark-submit overrides is named in a WARNING.
    `cluster`: the spark-defaults.conf the launcher loads (without spark-submit): its
    settings win over DEFAULT_CONF, as they do under spark-submit; the config's spark.conf
    still wins over it (cluster_defaults.PINNED are set after the start, by ensure_utc)."""
    own = {k: v for k, v in DEFAULT_CONF.items() if k not in (cluster or {})}
    conf = {**own, **(user or {})}
    if submitted is None:
        kept = {k: v for k, v in (cluster or {}).items() if k in DEFAULT_CONF and k not in conf}
        if kept:
            logger.info(
                "spark-defaults.conf sets %s: kept over fraud-app's defaults (%s)",
                ", ".join(f"{k}={redact_value(k, v)}" for k, v in kept.items()),
                ", ".join(f"{k}={DEFAULT_CONF[k]}" for k in kept),
            )
        return conf
    for key, value in (user or {}).items():
        if key in submitted and submitted[key] != value:
            logger.warning(
                "spark-submit's %s=%s wins over spark.conf in the config (%s)",
                key, redact_value(key, submitted[key]), redact_value(key, value),
            )  # fmt: skip
    return {k: v for k, v in conf.items() if k not in submitted}


def with_local_java_options(
    master: str,
    conf: dict[str, str],
    submitted: dict[str, str] | None,
    cluster: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """conf + LOCAL_DRIVER_JAVA_OPTIONS for the driver JVM that get_spark starts on a local
    master, unless the conf or the cluster's spark-defaults.conf names its own
    spark.driver.extraJavaOptions (ours replaced that file's whole value). Under
    spark-submit the JVM already runs: nothing is added."""
    if submitted is not None or not LOCAL_MASTER.fullmatch(master.strip()):
        return conf
    if _JAVA_OPTIONS in conf or _JAVA_OPTIONS in (cluster or {}):
        return conf
    return {**conf, _JAVA_OPTIONS: LOCAL_DRIVER_JAVA_OPTIONS}


def spark_session(config, before_start: Callable[[], None] | None = None):
    """The SparkSession a command runs on, from the config's `spark` section.
    `before_start`: a command's own check, run after the session's checks and before the
    JVM starts (not when a session is active)."""
    check_hadoop_paths(config)
    s = config.spark
    interval = settings.progress_interval_s()  # a bad value: an error before the JVM starts
    spark = get_spark(
        s.master, s.app_name, s.conf, env_archive=s.env_archive, before_start=before_start
    )
    progress.start(spark, interval)  # a line when jobs run long without one
    return spark


def get_spark(
    master: str | None = None,
    app_name: str = "fraud-app",
    conf: Mapping[str, str] | None = None,
    *,
    env_archive: str | None = None,
    before_start: Callable[[], None] | None = None,
):
    """Return the active SparkSession or build one (master: arg > env > local[*]).

    `env_archive`: a packed Python environment (`fraud-app pack-env`) that executors
    unpack and run, so cluster nodes need nothing installed beforehand.
    """
    import pyspark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        check_session(active)
        warn_not_applied(active, master, conf)
        return ensure_utc(active)
    refuse_spark_remote(settings.spark_remote())
    check_conf_keys(conf or {})  # a misspelt setting, before the JVM starts
    # an older Spark: one line naming it, not an AttributeError later or pyspark 4's
    # `'JavaPackage' object is not callable` from a Spark 3.5 SPARK_HOME
    check_before_start(pyspark.__version__, settings.spark_home())
    submitted = submitted_conf() if settings.launched_by_spark_submit() else None
    if submitted is None:
        settings.java_version()  # clear error when Java is missing
        check_open_files()  # the JVM opens its ~280 jars at once: `ulimit -n 256` stopped it
    master = _choose_master(master, submitted)
    # without spark-submit, the launcher pyspark runs loads the cluster's spark-defaults.conf
    # too, but the builder's settings were laid over it: DEFAULT_CONF's 4g beat its
    # spark.driver.memory 16g without a word (under spark-submit the file won)
    cluster = file_defaults() if submitted is None else None
    conf = merged_conf(conf, submitted, cluster)
    check_driver_addresses(conf)
    conf = with_local_java_options(master, conf, submitted, cluster)
    if env_archive:
        extra_conf, extra_env = archive_settings(master, env_archive, {**(submitted or {}), **conf})
        if not extra_conf:
            logger.warning(
                "spark.env_archive is ignored on %s: local executors run this interpreter", master
            )
        conf.update(extra_conf)
        settings.export(extra_env)
    if submitted is None:  # spark-submit already chose the interpreters and the bind address
        settings.export(settings.python_env_for_spark(), keep_set=True)
    if before_start is not None:  # the command's own check: its error before the JVM's start
        before_start()
    builder = SparkSession.builder.appName(app_name)
    if submitted is None:
        builder = builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4J/JVM start-up errors: one line naming the master
        raise EnvironmentSetupError(startup_failure(master, exc)) from exc
    check_session(spark)
    spark.sparkContext.setLogLevel("WARN")
    logger.info("Spark %s session on %s", spark.version, master)
    return ensure_utc(spark)


def warn_not_applied(active, master: str | None, conf: Mapping[str, str] | None) -> None:
    """One WARNING naming what get_spark was given and does not apply to the session that
    already runs (a notebook's own, or a platform's): its master, and each setting whose
    value differs. They were dropped without a word (`get_spark("local[1]",
    conf={"spark.sql.shuffle.partitions": "7"})` ran on local[2] with 3 partitions). Our
    own defaults (DEFAULT_CONF) are not named: only what the caller gave."""
    differs = []
    running = session_master(active)
    if master and master != running:
        differs.append(
            f"master {master} (the session runs on {running or 'a Spark Connect server'})"
        )
    for key, value in (conf or {}).items():
        try:
            now = active.conf.get(key, None)
        except Exception:  # a key the session cannot read back
            now = None
        if now is None or str(now) != str(value):
            shown = "unset" if now is None else redact_value(key, str(now))
            differs.append(f"{key}={redact_value(key, str(value))} (the session: {shown})")
    if differs:
        logger.warning(
            "get_spark: a SparkSession is already running; it is used as it is, without: %s. "
            "Set runtime SQL settings with spark.conf.set(key, value), or stop the session "
            "(spark.stop()) before get_spark to start one with these settings",
            "; ".join(differs),
        )


SESSION_TIME_ZONE = "spark.sql.session.timeZone"
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "Zulu"})


def ensure_utc(spark):
    """The session's time zone set to UTC, with a WARNING when it was another one; so are
    the other settings the app's results depend on (cluster_defaults.PINNED).

    Every date the app handles is a UTC date: ETL writes `event_date` with Spark's
    to_date (the session's zone), while score / evaluate windows, splits and history cuts
    are UTC midnights. Under another zone (a cluster's spark-defaults.conf, a spark-submit
    --conf, a notebook's own session) a transaction between local and UTC midnight was
    in one date's partition and outside that date's time window: `score` skipped it."""
    # without a default: a session that never set it has the JVM's zone (get(key, None)
    # gave None, and a session already in UTC was "set" with a WARNING `zone None -> UTC`)
    zone = spark.conf.get(SESSION_TIME_ZONE)
    if zone not in UTC_NAMES:
        logger.warning(
            "Spark session time zone %s -> UTC (%s): fraud-app reads naive timestamps, "
            "writes event_date and cuts every date window in UTC",
            zone, SESSION_TIME_ZONE,
        )  # fmt: skip
        spark.conf.set(SESSION_TIME_ZONE, "UTC")
    pin_settings(spark)
    jvm_functions.install(spark)  # Columns built without a JVM lookup per call
    return spark


def utc_session(fn):
    """Decorator for a step `fn(spark, ...)` that cuts dates or reads and writes naive
    timestamp text: `ensure_utc(spark)` first. A notebook calls the steps on its own
    session, whose zone the analyst may have set (or set again after get_spark, to look at
    local times); under Asia/Kolkata the generated raw timestamps were written 5:30 h
    late and training's split windows moved by a day."""

    @functools.wraps(fn)
    def inner(spark, *args, **kwargs):
        if spark is not None:  # None: the CLI's checks of what needs no session yet
            require_session(spark, fn.__name__)  # a notebook's DataFrame, a stopped session
            ensure_utc(spark)
        return fn(spark, *args, **kwargs)

    return inner
