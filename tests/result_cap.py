"""A lower `spark.driver.maxResultSize` on the tests' running SparkContext, for one block.

The cap is read from the context's own SparkConf each time a task set is scheduled
(Spark's TaskSetManager), and `spark.conf.set` refuses core settings, so a test that
needs a small driver set it in a JVM of its own (`get_spark(..., {"spark.driver.
maxResultSize": "1m"})` in a child process: ~90 s of interpreter and JVM start at load
20). Here the context's live conf (`SparkContext.conf`, not the copy `getConf` returns)
takes the cap for the block and gets its old value back after it, so the tests' session
runs the jobs. Tests in one process run one at a time: no other test's job sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

KEY = "spark.driver.maxResultSize"


@contextmanager
def result_cap(spark, size: str) -> Iterator[None]:
    """Jobs started in the block may return at most `size` of serialised results."""
    conf = spark.sparkContext._jsc.sc().conf()  # the live SparkConf (getConf is a copy)
    old = conf.getOption(KEY)
    conf.set(KEY, size)
    try:
        yield
    finally:
        if old.isDefined():
            conf.set(KEY, old.get())
        else:
            conf.remove(KEY)
