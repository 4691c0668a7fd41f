"""`spark.driver.maxResultSize` met by a collect, as one error that says what to change.

A few steps still bring a whole window to the driver: early stopping scores the validation
window there after every evaluation (its rows and feature vectors: fraud_app.spark.
validation_rows.collect_validation, pipelines.training.nodes.collect_validation_window), and
the promotion gate with it. A validation window larger than the cap (1g by default; ~250
bytes a row at 50 features, so ~4M rows) stopped `train` with Spark's own text inside a
Py4JJavaError: "Total size of serialized results of 2 tasks (101.2 MiB) is bigger than
spark.driver.maxResultSize (64.0 MiB)", which names neither the window nor a way out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fraud_app.errors import ConfigError

_SPARK = re.compile(
    r"Total size of serialized results of (\d+) tasks \(([^)]+)\) is bigger than "
    r"spark\.driver\.maxResultSize \(([^)]+)\)"
)


def result_cap_error(exc: BaseException, what: str, advice: str) -> ConfigError | None:
    """The ConfigError for a collect of `what` that Spark stopped at the driver's result
    cap; None when `exc` is something else."""
    match = _SPARK.search(str(exc))
    if match is None:
        return None
    tasks, size, cap = match.groups()
    return ConfigError(
        f"{what} does not fit on the driver: its first {tasks} tasks' results came to {size}, "
        f"past spark.driver.maxResultSize ({cap}). {advice}"
    )


@contextmanager
def result_cap(what: str, advice: str) -> Iterator[None]:
    """Re-raise Spark's maxResultSize failure of the collect inside as result_cap_error."""
    try:
        yield
    except Exception as exc:
        error = result_cap_error(exc, what, advice)
        if error is None:
            raise
        raise error from None
