"""Names a user picks that become part of a file or directory name (run names, job ids).

A run name lands in paths such as `<paths.models>/<run>/` and `reports/training-<run>.json`,
so it must be one plain path component: `../x` or `a/b` would write outside paths.root.
"""

from __future__ import annotations

import datetime as dt
import re

from fraud_app.errors import ConfigError


def utc_stamp() -> str:
    """The default name of a run, evaluation or job: the UTC time to the second
    (YYYYMMDDTHHMMSS), so names sort by start time."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"


MAX_SUFFIX = 50  # runs started in the same second: stamp, stamp-2 .. stamp-50


def stamped_names(stamp: str) -> list[str]:
    """The names a run, evaluation or report left unnamed may take, in order: `stamp`
    (utc_stamp()), then `stamp-2` .. `stamp-<MAX_SUFFIX>`."""
    return [stamp, *(f"{stamp}-{k}" for k in range(2, MAX_SUFFIX + 1))]


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def is_name(value: str) -> bool:
    """Whether `value` is a name check_name accepts (every run, job and report name
    fraud-app writes is one)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def check_name(value: str, what: str) -> str:
    """`value` when it is 1-100 letters, digits, '.', '_' or '-' starting with a letter or
    digit; ConfigError naming `what` (e.g. "run name") otherwise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} must be 1-100 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it becomes part of a file name)"
        )
    return value


# what a registered model's name may not hold: MLflow refuses '/' and ':' when it registers
# (after the whole training run); '?' cuts a models:/ URI (urllib reads the rest as a query:
# MLflow reads `models:/fraud?eu@champion` and `models:/fraud?eu/3` as the logged model `fraud`)
_NOT_IN_REGISTERED = "/:?"


def registered_name_problem(value: str) -> str | None:
    """Why `value` cannot be a registered model's name in every models:/ URI fraud-app
    writes and MLflow reads back (the default scoring.model, the gate's champion, promote's
    check): None when it can."""
    if not value.strip():
        return f"{value!r} is blank"
    bad = sorted({c for c in value if c in _NOT_IN_REGISTERED or not c.isprintable()})
    if bad:
        return (
            f"{value!r} holds {', '.join(map(repr, bad))}: a registered model's name may not "
            "hold '/', ':', '?' or control characters (MLflow refuses '/' and ':' when it "
            "registers, after training; a models:/ URI is cut at '?', naming another model)"
        )
    return None
