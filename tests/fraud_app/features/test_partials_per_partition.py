"""The training window's one-pass figures reach the driver once per partition, not once per
Arrow batch (session 42): the feature check with its moments and encoding sample
(fraud_app.features.checks), the trainer's feature statistics
(fraud_app.models.input_fit) and the estimators' data summary (fraud_app.ml.data) each
collected rows / 10,000 partials (maxRecordsPerBatch), growing with the window: at 30
features ~2.4-5 KB of Python each, 0.24-0.5 GB for 10^9 rows. The figures are those of the
per-batch partials: minima, maxima, counts, the sample and the drawn rows the same, sums to
rounding. Real Spark."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fraud_app.features.checks import _partials, check_window
from fraud_app.ml.data import _SUMMARY_SCHEMA, _batch_summary, inspect_training_data
from fraud_app.models.input_fit import _partial_moments, feature_statistics

pytestmark = pytest.mark.spark
D = 4
KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"


def _window(spark, n: int = 1_200, partitions: int = 3):
    rng = np.random.default_rng(11)
    X = rng.lognormal(2.0, 1.5, size=(n, D)).astype(np.float32)
    X[: n // 3, 2] = 0.0
    rows = [([float(v) for v in x], float(i % 40 == 0)) for i, x in enumerate(X)]
    return spark.createDataFrame(rows, "features array<float>, label double").repartition(
        partitions
    )


@pytest.fixture
def small_batches(spark):
    """Arrow batches of 50 rows: many partials per partition, as at 10^6 rows."""
    before = spark.conf.get(KEY)
    spark.conf.set(KEY, "50")
    yield spark
    spark.conf.set(KEY, before)


def test_the_feature_statistics_pass_sends_one_row_per_partition(small_batches):
    df = _window(small_batches)
    parts = df.select("features").mapInArrow(
        _partial_moments("features"), "n long, s1 array<double>, s2 array<double>"
    )
    assert parts.count() == 3  # was 24: one per Arrow batch of 50 rows


def test_the_estimators_summary_sends_one_row_per_partition(small_batches):
    df = _window(small_batches)
    parts = df.select("features", "label").mapInArrow(
        _batch_summary("features", "label"), _SUMMARY_SCHEMA
    )
    assert parts.count() == 3  # was 24


def test_the_feature_checks_pass_sends_one_row_per_partition(spark):
    df = _window(spark, 600, 1)
    X = np.asarray([r[0] for r in df.select("features").collect()], np.float64)
    table = pa.table(
        {**{f"c{j}": X[:, j] for j in range(D)},
         "v": df.select("features").toArrow().column(0), "s": [i % 3 == 0 for i in range(600)]}
    )  # fmt: skip
    batches = table.to_batches(max_chunksize=50)  # 12 batches of one partition
    out = list(_partials(D, 0.5, D, moments=True, drawn=True)(iter(batches)))
    assert sum(b.num_rows for b in out) == 1  # was 12
    got = out[0].to_pylist()[0]
    assert np.frombuffer(got["mn"]).tolist() == np.nanmin(X, axis=0).tolist()
    assert np.frombuffer(got["mx"]).tolist() == np.nanmax(X, axis=0).tolist()
    assert got["n"] == 600
    np.testing.assert_allclose(np.frombuffer(got["s1"]), X.sum(0), rtol=1e-12)


def test_the_figures_do_not_depend_on_the_arrow_batch_size(spark):
    df = _window(spark).cache()
    names = [f"f{j}" for j in range(D)]

    def figures():
        found = check_window(df, names, vector_column="features", label_column="label",
                             moments=True, sample_rows=300, sample=(0.25, 3))  # fmt: skip
        return (
            found,
            feature_statistics(df, "features"),
            inspect_training_data(df, "features", "label", "probe"),
        )

    try:
        whole = figures()
        spark.conf.set(KEY, "7")
        small = figures()
    finally:
        spark.conf.unset(KEY)
        df.unpersist()
    (a, stats_a, sum_a), (b, stats_b, sum_b) = whole, small
    assert a.checks == b.checks
    assert a.sample.tobytes() == b.sample.tobytes()  # the same rows drawn, in order
    for x, y in zip((*a.moments, *stats_a), (*b.moments, *stats_b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert (sum_a.rows, sum_a.positives, sum_a.widths) == (sum_b.rows, sum_b.positives, (D,))
    assert sum_a.lo.tolist() == sum_b.lo.tolist() and sum_a.hi.tolist() == sum_b.hi.tolist()
    np.testing.assert_allclose(sum_a.s1, sum_b.s1, rtol=1e-12)


def _summary_peak(batches: int) -> int:
    """The Python memory peak (tracemalloc) of one partition's `_batch_summary` over
    `batches` Arrow batches of 20 rows x 30 features, made as they are read."""
    import tracemalloc

    rng = np.random.default_rng(3)
    X = rng.random((20, 30)).astype(np.float32)
    one = pa.RecordBatch.from_arrays(
        [pa.array([list(map(float, x)) for x in X], pa.list_(pa.float32())), pa.array([0.0] * 20)],
        ["features", "label"],
    )
    tracemalloc.start()
    try:
        out = list(_batch_summary("features", "label")(one for _ in range(batches)))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert len(out) == 1 and out[0].to_pylist()[0]["rows"] == 20 * batches


def test_a_partitions_summary_does_not_keep_every_batch():
    """The partition's batches are summed as they come: a list of every batch's summary
    held ~2.5 KB of Python per batch (30 features) in the task, 10^4 batches in a partition
    of 10^8 rows (session 42 review). Not a timing: tracemalloc's peak of real partials."""
    few, many = _summary_peak(50), _summary_peak(1_000)
    assert many < few + 500_000  # was + ~2.5 MB: every batch's DataSummary kept
