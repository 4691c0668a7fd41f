"""The open-files limit a local Spark JVM needs before it is started.

Owns: `check_open_files`, called by the session factory before it launches the JVM. The
JVM opens every jar of its class path at start-up (280 in pyspark 4's `jars/`), and raises
its own soft limit to the hard one (HotSpot's MaxFDLimit), so a hard limit below that
number (`ulimit -n 256`, which sets both limits) failed before any work with
`Spark could not start on master 'local[2]': [JAVA_GATEWAY_EXITED] Java gateway process
exited before sending its port number.. Check spark.master / --master and spark.conf`,
naming a setting that was not the cause (its own stderr: `Error loading java.security
file`). Does not own the limits of a cluster's executors (their hosts' settings).
"""

from __future__ import annotations

try:
    import resource
except ImportError:  # Windows: no such limits to check
    resource = None

from fraud_app.errors import EnvironmentSetupError
from fraud_app.spark.conf_keys import jars_dir

# beyond the jars: the JVM's own files, sockets to Python, shuffle and Parquet files
# (measured: a 6,000-row `run` with 280 jars finished under a limit of 384)
MARGIN = 100


def needed_open_files() -> int | None:
    """The open files a local Spark JVM needs here; None when its jars cannot be counted."""
    jars = jars_dir()
    if jars is None:
        return None
    return sum(1 for _ in jars.glob("*.jar")) + MARGIN


def check_open_files() -> None:
    """EnvironmentSetupError naming the limit when the hard open-files limit is below what
    the JVM needs; a soft limit below it is raised (up to the hard one) for this process,
    as the JVM does for itself."""
    needed = None if resource is None else needed_open_files()
    if needed is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise EnvironmentSetupError(
            f"too many open files for Spark: this process may open at most {hard} files "
            f"(`ulimit -n`, hard limit), and Spark's JVM opens its {needed - MARGIN} jars at "
            f"start-up and more files as it runs: at least {needed} are needed. Raise the "
            f"limit (e.g. `ulimit -n 4096` in the shell that runs fraud-app, LimitNOFILE= "
            f"for a systemd service) and run the command again"
        )
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed * 4, hard), hard))
