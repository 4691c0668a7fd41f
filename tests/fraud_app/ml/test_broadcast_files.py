"""Repeated transform / score_dataframe in one session leave no broadcast files behind.

PySpark writes each broadcast to a file in the driver's temporary directory and deletes it
only on `destroy()` or when the context stops; a scoring broadcast behind a lazy DataFrame
is never destroyed by us. Before session 32 each `transform` and each `score_dataframe`
left its model's payload there for the rest of the session (138 KB a call for a
[256, 128] network): a notebook scoring in a loop filled the driver's disk.
"""

from __future__ import annotations

import gc
import os
import time

import pytest

pytestmark = pytest.mark.spark

CALLS = 8


def _files(sc) -> set[str]:
    return set(os.listdir(sc._temp_dir)) if os.path.isdir(sc._temp_dir) else set()


def _let_go(sc, new, scoring) -> set[str]:
    """What is left of `new` once Python and the JVM have let go of the DataFrames (a job
    and a JVM GC at a time, as a long session has them; bounded), each round ending with
    the next `scoring` call (which clears what is no longer used)."""
    deadline = time.monotonic() + 30
    left = new()
    while left and time.monotonic() < deadline:
        gc.collect()
        sc.parallelize(range(2), 2).count()
        sc._jvm.System.gc()
        time.sleep(0.5)
        scoring()
        left = new()
    return left


def test_repeated_scoring_leaves_no_broadcast_files(spark, fitted, vector_df, array_df):
    from fraud_app.scoring.batch import score_dataframe

    sc = spark.sparkContext
    before = _files(sc)
    for _ in range(CALLS):
        fitted.transform(vector_df).select("probability").collect()
        score_dataframe(array_df, fitted.ensemble).select("fraud_score").collect()
    made = _files(sc) - before  # a payload file a call (PySpark's), those not swept yet
    assert made
    left = _let_go(sc, lambda: _files(sc) & made, lambda: fitted.transform(vector_df))
    assert not left, f"{len(left)} of {len(made)} broadcast files left in {sc._temp_dir}"


def test_a_scored_dataframe_still_in_use_keeps_its_broadcast(spark, fitted, vector_df, array_df):
    """The file of a broadcast behind a DataFrame the caller still holds is kept: the
    DataFrame reads the same after the sweeps."""
    from fraud_app.scoring.batch import score_dataframe

    sc = spark.sparkContext
    before = _files(sc)
    held = fitted.transform(vector_df).select("id", "probability")
    (mine,) = _files(sc) - before  # transform broadcasts the model once, at once
    first = sorted(held.collect())
    for _ in range(3):  # other scorings come and go around it
        fitted.transform(vector_df).select("probability").collect()
    made = _files(sc) - before
    others = lambda: (_files(sc) & made) - {mine}  # noqa: E731
    assert not _let_go(sc, others, lambda: score_dataframe(array_df, fitted.ensemble))
    assert mine in _files(sc)
    assert sorted(held.collect()) == first


def test_a_released_block_destroys_its_broadcasts_when_it_ends(spark, fitted, array_df):
    """What tune's trials and backtest's folds score inside `released()` leaves no file
    once the block ends, even when it raises."""
    from fraud_app.scoring.batch import score_dataframe
    from fraud_app.spark.broadcasts import released

    sc = spark.sparkContext
    before = _files(sc)
    with released():
        score_dataframe(array_df, fitted.ensemble).select("fraud_score").collect()
        assert _files(sc) - before
    assert not _files(sc) - before
    with pytest.raises(ValueError), released():
        score_dataframe(array_df, fitted.ensemble)
        raise ValueError("a failed fold")
    assert not _files(sc) - before
