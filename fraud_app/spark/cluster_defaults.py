"""What a cluster's spark-defaults.conf says, and the Spark settings the app pins whatever it
says.

A platform team's spark-defaults.conf reaches every job on the cluster without the job's
owner knowing. The launcher that starts the driver JVM (spark-submit, also behind
`fraud-app --master yarn`) loads it, then the session's own settings are laid over it:
the app's laptop defaults (DEFAULT_CONF in fraud_app.spark.session) beat the cluster's
`spark.driver.memory 16g` or `spark.sql.shuffle.partitions 2000` without a word there,
while under spark-submit the same file won. `file_defaults` reads the file so that the
session factory fills in only what it leaves unset, as it does under spark-submit.

Most of those settings change how fast a step runs, not what it writes (docs/PROBES.md,
session 38, measured each one on the daily cycle). The few in PINNED changed what the
steps wrote or stopped them: every step runs with the value named there, whatever the
file, a spark-submit --conf or a notebook's session says, and a WARNING names the value
it replaced (`pin_settings`); the config's spark.conf may not set another
(fraud_app.config). The session time zone (UTC) is pinned the same way by its own function
(fraud_app.spark.session.ensure_utc), which calls `pin_settings` for the rest.

Owns: finding and reading spark-defaults.conf, the PINNED table, setting it on a session.
Does not own: the session's start and the merge of settings (fraud_app.spark.session).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from fraud_app import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pinned:
    """A Spark SQL setting every step runs with: `value` (any case), and why."""

    key: str
    value: str
    why: str

    def holds(self, value: object) -> bool:
        return str(value).strip().upper() == self.value.upper()


PINNED = (
    Pinned(
        "spark.sql.legacy.timeParserPolicy",
        "CORRECTED",
        "LEGACY parsed '2024-01-05 10:00:00junk' and '2024-01-05 10:00:00.123' with "
        "etl.timestamp_format 'yyyy-MM-dd HH:mm:ss' as 10:00:00 and '24-01-05 10:00:00' as "
        "the year 24, values the ETL quarantines as unparseable; under EXCEPTION (Spark 3's "
        "default) the ETL stopped with a Java error on the first such value",
    ),
)
PINNED_KEYS = frozenset(p.key for p in PINNED)


def pin_settings(spark) -> None:
    """Each PINNED setting set on `spark` where it holds another value, with a WARNING
    naming the value replaced (a cluster's spark-defaults.conf, a spark-submit --conf, a
    notebook's spark.conf.set)."""
    for pin in PINNED:
        now = spark.conf.get(pin.key)  # without a default: the session's effective value
        if not pin.holds(now):
            logger.warning(
                "Spark setting %s=%s -> %s (set by the cluster's spark-defaults.conf, "
                "spark-submit --conf or the session's owner; fraud-app runs every step with "
                "%s: %s)",
                pin.key, now, pin.value, pin.value, pin.why,
            )  # fmt: skip
            spark.conf.set(pin.key, pin.value)


def defaults_file() -> Path | None:
    """The spark-defaults.conf the launcher loads: $SPARK_CONF_DIR's, else
    $SPARK_HOME/conf's, else that of pyspark's own Spark; None when there is none."""
    folders = [settings.spark_conf_dir(), settings.spark_home() and f"{settings.spark_home()}/conf"]
    try:
        import pyspark

        folders.append(str(Path(pyspark.__file__).parent / "conf"))
    except ImportError:  # pragma: no cover - pyspark is a dependency
        pass
    for folder in folders:
        if folder:  # the first folder that is set decides, as in Spark's launcher
            path = Path(folder) / "spark-defaults.conf"
            return path if path.is_file() else None
    return None


# a properties line: key, then '=', ':' or blanks, then the value (java.util.Properties)
_LINE = re.compile(r"([^\s=:]+)\s*[=:\s]\s*(.*)")


def file_defaults(path: Path | None = None) -> dict[str, str]:
    """The `spark.*` settings of `path` (default: `defaults_file()`), as Spark's launcher
    reads them: `key value` or `key=value` lines, '#' and '!' comments, values trimmed.
    Continued lines (a trailing backslash) are not joined: such a key is read with its
    first line only. Nothing when there is no file or it cannot be read."""
    path = path or defaults_file()
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        logger.debug("cannot read %s: %s", path, exc)
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = _LINE.fullmatch(line)
        if match and match.group(1).startswith("spark."):
            out[match.group(1)] = match.group(2).strip()
    return out
