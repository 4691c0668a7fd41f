"""A misspelt Spark setting in `spark.conf` (`spark.sql.shuffle.partiton: 4`) is an error
naming the setting Spark knows, before the JVM starts.

Spark itself accepts any key and ignores the ones nothing reads, so a typo ran the job
with the default (200 shuffle partitions, the UI on, ...) without a word. Spark's keys
are not listed anywhere a Python process can ask without a JVM, but each one is a string
constant in the class that defines it: the config classes of the `spark-*.jar` files
this driver runs (`$SPARK_HOME/jars`, else pyspark's own `jars/`), read once per process
(~0.5 CPU-seconds for Spark 4.3's ~1,800 keys; a JVM start takes several times that).

A key is refused only when Spark does not know it AND it is within a typo of one it knows
(case aside, difflib ratio >= 0.85, or the same letters in another case); every other key
passes, so legitimate custom keys keep working:

- keys outside `spark.*` (the SQL session's Hadoop configuration, e.g. `fs.s3a.endpoint`);
- keys under a prefix Spark reads as a family: `spark.hadoop.*`, `spark.executorEnv.*`,
  `spark.kubernetes.*`, `spark.yarn.*`, `spark.sql.catalog.*`, `spark.metrics.conf.*`,
  `spark.driver.resource.*`, `spark.executor.resource.*`, `spark.hive.*`,
  `spark.sql.hive.*`, `spark.history.*`, `spark.ssl.*` (OPEN_PREFIXES) and every
  family prefix the jars hold that names no setting itself (e.g.
  `spark.kubernetes.driver.label.`);
- a plugin's keys (`spark.rapids.sql.enabled`, `spark.delta.*`, `spark.openlineage.*`):
  unknown but near no Spark key, logged at INFO as passed on unchecked.

Where the jars cannot be read (no `jars/` folder, a Spark Connect client), nothing is
checked (DEBUG). A key set by spark-submit `--conf` or spark-defaults.conf is not checked.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

from fraud_app import settings
from fraud_app.errors import ConfigError

logger = logging.getLogger(__name__)

OPEN_PREFIXES = (
    "spark.hadoop.",
    "spark.executorEnv.",
    "spark.kubernetes.",
    "spark.yarn.",
    "spark.sql.catalog.",
    "spark.metrics.conf.",
    "spark.driver.resource.",
    "spark.executor.resource.",
    "spark.hive.",
    "spark.sql.hive.",
    "spark.history.",
    "spark.ssl.",
)
CUTOFF = 0.85  # difflib ratio of a typo: 'partiton' / 'partitions' 0.96, 'memmory' 0.98
_CLASS = re.compile(r"(?i)conf|config|HiveUtils")  # the classes that define settings
_CONSTANT = re.compile(rb"\x01(..)(spark\.[A-Za-z0-9_.\-]+)", re.S)  # a CONSTANT_Utf8
_MIN_KEYS = 200  # fewer found: not a Spark distribution we can read; check nothing


def jars_dir() -> Path | None:
    """The folder of the Spark jars this driver runs: $SPARK_HOME/jars, else pyspark's."""
    home = settings.spark_home()
    candidates = [Path(home) / "jars"] if home else []
    try:
        import pyspark

        candidates.append(Path(pyspark.__file__).parent / "jars")
    except ImportError:  # pragma: no cover - pyspark is a dependency
        pass
    return next((c for c in candidates if c.is_dir()), None)


@functools.lru_cache(maxsize=4)
def known_keys(jars: Path) -> tuple[frozenset[str], tuple[str, ...]]:
    """(the setting names, the `spark.x.y.` family prefixes) found in `jars`' Spark jars."""
    keys: set[str] = set()
    for jar in sorted(jars.glob("spark-*.jar")):
        try:
            with zipfile.ZipFile(jar) as z:
                for info in z.infolist():
                    name = info.filename
                    if not name.endswith(".class") or not _CLASS.search(name):
                        continue
                    for m in _CONSTANT.finditer(z.read(info)):
                        if len(m[2]) == int.from_bytes(m[1], "big"):
                            keys.add(m[2].decode())
        except (OSError, zipfile.BadZipFile) as exc:
            logger.debug("spark.conf check: cannot read %s: %s", jar, exc)
    names = frozenset(k for k in keys if not k.endswith("."))
    # a family prefix (spark.kubernetes.driver.label.<name>), not a namespace of named
    # settings (spark.sql.shuffle. holds spark.sql.shuffle.partitions: checked by name)
    prefixes = tuple(k for k in keys if k.endswith(".") and not any(n.startswith(k) for n in names))
    return names, prefixes


def unknown_near(conf: Mapping[str, str], jars: Path | None = None) -> dict[str, str]:
    """{key: the Spark setting it probably meant} for each key of `conf` that Spark does
    not know and that is a typo of one it knows (module docstring)."""
    jars = jars or jars_dir()
    if jars is None:
        logger.debug("spark.conf check skipped: no Spark jars folder found")
        return {}
    keys, prefixes = known_keys(jars)
    if len(keys) < _MIN_KEYS:
        logger.debug("spark.conf check skipped: %d keys found in %s", len(keys), jars)
        return {}
    lower = {k.lower(): k for k in keys}
    out = {}
    for key in conf:
        if not key.startswith("spark.") or key in keys:
            continue
        if key.startswith(OPEN_PREFIXES) or key.startswith(prefixes):
            continue
        close = lower.get(key.lower()) or next(
            iter(difflib.get_close_matches(key, keys, n=1, cutoff=CUTOFF)), None
        )
        if close:
            out[key] = close
        else:
            logger.info("spark.conf: %r is not a setting of this Spark; passed on unchecked "
                        "(a plugin's key?)", key)  # fmt: skip
    return out


def check_conf_keys(conf: Mapping[str, str], jars: Path | None = None) -> None:
    """ConfigError naming every misspelt Spark setting of `conf` and what it meant."""
    typos = unknown_near(conf, jars)
    if typos:
        lines = "; ".join(f"{k!r}: did you mean {v!r}?" for k, v in typos.items())
        raise ConfigError(
            f"spark.conf: {len(typos)} key(s) Spark does not know, each a near miss of a "
            f"setting it reads: {lines} Spark ignores a key it does not know, so the job "
            "would run with that setting's default. Fix the spelling (keys are case-sensitive)"
        )
