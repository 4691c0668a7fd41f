"""Feature checks on the training window: constant and near-constant features.

A feature that takes one value on (almost) every training row carries (almost) no
information: an all-null input that ETL filled, a risk window that never sees a label,
a fill value that dominates. Training warns about them (ONE warning listing them) and
the training report lists them; nothing is dropped, the choice stays with the user (a
feature that held one value in every row a member trained on cannot move its scores: its
first-layer weights are folded into the bias after training, dlcore.constant_inputs).

constant: min == max over the window (nulls ignored; all null counts as constant).
near-constant: one value holds at least `share` of the (non-null) rows, and, when the
window's labels are given (`label_column`), the other rows hold no higher a fraud rate
than the window: a risk feature that is 0 except on the few rows of a compromised
merchant (0 on 99.4 % of the rows, a fraud rate of 30 % on the rest) is rare because
fraud is rare, and is among the most informative; it is logged at INFO, not warned
about. One Spark pass
(`mapInArrow`, NumPy per Arrow batch, one partial per partition to the driver): min and
max over EVERY row, and a sample of about
`sample_rows` rows (a row is in it by a hash of its feature values, so the same rows are
picked in any partitioning or order) whose most frequent value is counted exactly on
the driver; a share of 99 % is estimated from 100k rows to about +- 0.03 %. (Before:
the 0.5 % and 99.5 % quantiles coincide, from `percentile_approx` sketches at accuracy
10,000 over every row, the heaviest job of a training run; for a value at the edge of
the range, such as a rate that is mostly 0, that asked for a share of 99.5 %.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.features.moments import MomentSums, combine_moments, require_finite_moments

logger = logging.getLogger(__name__)

NEAR_CONSTANT_SHARE = 0.99
SAMPLE_ROWS = 100_000
_SCHEMA = "mn binary, mx binary, sample binary"
_MOMENTS = ", s1 binary, s2 binary, n long"
_SAMPLE = ", drawn binary"


@dataclass(frozen=True)
class WindowChecks:
    """What one pass over a training window found: the feature check's lists and, when
    asked for, the (mean, std) of the vector column (fraud_app.features.moments)."""

    checks: dict[str, list[str]]  # {"constant": [...], "near_constant": [...]}
    moments: tuple[np.ndarray, np.ndarray] | None = None
    # with `sample` = (fraction, seed): the float32 vectors of the rows that
    # df.sample(False, fraction, seed) keeps, in its order (fraud_app.models.train's
    # feature_sample, which the input encoding's bins are fitted on)
    sample: np.ndarray | None = None


def constant_features(df: DataFrame, names: Sequence[str], **options) -> dict[str, list[str]]:
    """{"constant": [...], "near_constant": [...]} among the features `names` of `df`:
    check_window's `checks`, `options` its keywords.

    Each feature is read from its own column when `df` has one, else from its position in
    `vector_column` (a feature table may carry only the vector). rows: the row count of
    `df` when known (else one count); the share is counted on about `sample_rows` of them.
    label_column: the 0/1 label of `df` (used when present): a near-constant feature whose
    other rows hold more frauds than their share is informative and not listed."""
    return check_window(df, names, **options).checks


def check_window(
    df: DataFrame,
    names: Sequence[str],
    *,
    vector_column: str | None = None,
    share: float = NEAR_CONSTANT_SHARE,
    rows: int | None = None,
    sample_rows: int = SAMPLE_ROWS,
    label_column: str | None = None,
    moments: bool = False,
    sample: tuple[float, int] | None = None,
) -> WindowChecks:
    """`constant_features`, and with `moments` the (mean, std) of every position of
    `vector_column` summed in the same pass, as fraud_app.models.train.feature_statistics
    gives them (same batches, same order: the same bits); the train step's standardisation
    statistics without a second scan of the window. moments: None when `df` has no such
    column or `names` is empty.

    sample: (fraction, seed): the pass also keeps the vectors of the rows that Spark's
    `df.sample(False, fraction, seed)` keeps (`WindowChecks.sample`; fraction >= 1: every
    row), so the input encoding's sample needs no pass of its own. The draw is the same:
    Spark's sampler and `rand(seed)` both take one XORShift double per row, seeded with
    seed + the partition's index, and keep a row when it is below the fraction."""
    if not names:
        return WindowChecks({"constant": [], "near_constant": []})
    read = _PassColumns.of(df, names, vector_column, label_column, moments, sample)
    rows = df.count() if rows is None else rows
    fraction = 1.0 if rows <= sample_rows else sample_rows / rows
    schema = _SCHEMA + (_MOMENTS if read.summed else "") + (_SAMPLE if read.drawn else "")
    partials = _partials(read.width, fraction, len(names), read.summed, read.drawn)
    parts = df.select(*read.data).mapInArrow(partials, schema).collect()
    found = _verdicts(names, parts, read.width, len(names), read.labelled, share)
    drawn_rows = _drawn(parts, vector_column) if read.drawn else None
    if not read.summed:
        return WindowChecks(found, sample=drawn_rows)
    return WindowChecks(found, _moments(names, parts, read.width), drawn_rows)


@dataclass(frozen=True, eq=False)
class _PassColumns:
    """What check_window's one pass reads: `data`, the features as doubles (c0, c1, ...),
    then the label when `labelled`, then the vector (v) when its moments are `summed` or
    rows `drawn`, then the draw (s) when `drawn`; `width`: the feature + label columns."""

    data: list[Column]
    width: int
    labelled: bool
    summed: bool
    drawn: bool

    @classmethod
    def of(cls, df, names, vector_column, label_column, moments: bool, sample) -> _PassColumns:
        columns = [_feature_column(df, name, i, vector_column) for i, name in enumerate(names)]
        labelled = label_column is not None and label_column in df.columns
        if labelled:
            columns.append(F.col(f"`{label_column}`"))
        data = [c.cast("double").alias(f"c{i}") for i, c in enumerate(columns)]
        has_vector = vector_column is not None and vector_column in df.columns
        summed = moments and has_vector
        drawn = sample is not None and has_vector
        if summed or drawn:
            data.append(F.col(f"`{vector_column}`").alias("v"))
        if drawn:
            keep = F.lit(True) if sample[0] >= 1.0 else F.rand(sample[1]) < F.lit(sample[0])
            data.append(keep.alias("s"))
        return cls(data, len(columns), labelled, summed, drawn)


def _moments(names, parts, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The vector's (mean, std) from the partitions' partial sums; an error names a feature
    whose float32 sums overflow (require_finite_moments)."""
    stats = combine_moments(
        [p["n"] for p in parts],
        [np.frombuffer(p["s1"], np.float64) for p in parts],
        [np.frombuffer(p["s2"], np.float64) for p in parts],
    )
    largest = np.fmax(
        np.abs(_reduce(np.fmin, [p["mn"] for p in parts], width)),
        np.abs(_reduce(np.fmax, [p["mx"] for p in parts], width)),
    )
    require_finite_moments(names, *stats, largest=largest)
    return stats


def _drawn(parts, column: str) -> np.ndarray:
    """The drawn rows' vectors (float32, in partition and batch order), decoded as
    collect_validation decodes its blocks (a null or ragged vector is its error)."""
    from fraud_app.spark.data import decode_blocks

    blobs = (bytes(p["drawn"]) for p in parts)
    return decode_blocks((b for b in blobs if b), column).X


def _verdicts(names, parts, width: int, d: int, labelled: bool, share: float):
    """The lists (and their log lines) from the partitions' minima, maxima and samples."""
    lo = _reduce(np.fmin, [p["mn"] for p in parts], width)
    hi = _reduce(np.fmax, [p["mx"] for p in parts], width)
    sample = [np.frombuffer(p["sample"], np.float64).reshape(-1, width) for p in parts]
    S = np.concatenate(sample) if sample else np.zeros((0, width))
    y = S[:, d] if labelled else None
    constant, near, informative = [], [], []
    for j, name in enumerate(names):
        if np.isnan(lo[j]) or lo[j] == hi[j]:
            constant.append(name)
        elif _top_share(S[:, j]) >= share:
            (informative if _rare_values_hold_frauds(S[:, j], y) else near).append(name)
    if informative:
        logger.info(
            "feature check on the training window: near-constant but informative (the rows "
            "off their main value hold more frauds than their share): %s", informative,
        )  # fmt: skip
    if constant or near:
        logger.warning(
            "feature check on the training window: %d constant feature(s) %s and %d "
            "near-constant (>= %.0f%% of rows share one value) %s; they carry little or no "
            "information (inputs missing from the data, or windows without labels?)",
            len(constant), constant, len(near), 100 * share, near,
        )  # fmt: skip
    return {"constant": constant, "near_constant": near}


def _rare_values_hold_frauds(x: np.ndarray, y: np.ndarray | None) -> bool:
    """Whether the rows off x's most frequent value have a higher fraud rate than all
    rows (labels null or unknown count as 0). False without labels."""
    if y is None:
        return False
    ok = ~np.isnan(x)
    x, y = x[ok], np.nan_to_num(y[ok]) == 1
    values, counts = np.unique(x, return_counts=True)
    off = x != values[np.argmax(counts)]
    return bool(off.any() and y[off].mean() > y.mean())


def _top_share(x: np.ndarray) -> float:
    """The share of the non-null values that the most frequent value holds (0 if none)."""
    x = x[~np.isnan(x)]
    if not len(x):
        return 0.0
    return float(np.unique(x, return_counts=True)[1].max() / len(x))


def _reduce(fn, blobs: list[bytes], d: int) -> np.ndarray:
    """Elementwise fmin / fmax over the batches (NaN = no value in that batch)."""
    if not blobs:
        return np.full(d, np.nan)
    return fn.reduce(np.stack([np.frombuffer(b, np.float64) for b in blobs]), axis=0)


def in_sample(X: np.ndarray, fraction: float) -> np.ndarray:
    """Which rows of X (n, d) float64 are in the sample: a 64-bit hash of each row's
    values (murmur3's finaliser over a weighted sum of the value bits) below `fraction`."""
    if fraction >= 1.0:
        return np.ones(len(X), dtype=bool)
    bits = np.ascontiguousarray(X, dtype=np.float64).view(np.uint64)
    weights = (np.arange(X.shape[1], dtype=np.uint64) * np.uint64(2) + np.uint64(1)) * np.uint64(
        0x9E3779B97F4A7C15
    )
    h = (bits * weights).sum(axis=1, dtype=np.uint64)
    for shift, mult in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53)):
        h ^= h >> np.uint64(shift)
        h *= np.uint64(mult)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


def _partials(
    d: int, fraction: float, hashed: int | None = None, moments: bool = False, drawn: bool = False
):
    """Per partition (one row, none for a partition without rows; a row per Arrow batch
    made the driver's share grow with the rows) of `d` columns: min, max and the sampled
    rows; the sample is drawn by a hash of the first `hashed` columns (the features: the
    label never moves it). moments: column `v` is a vector column whose partial sums come
    too (MomentSums: the batches' in order). drawn: column `s` says which rows' `v` to keep
    (one training block of them all, data.py)."""
    hashed = d if hashed is None else hashed

    def fn(batches: Iterator):
        import pyarrow as pa

        part = _Partial(d, fraction, hashed, moments, drawn)
        for batch in batches:
            if batch.num_rows:
                part.add(batch)
        if part.rows:
            columns = part.columns()
            yield pa.RecordBatch.from_arrays(list(columns.values()), list(columns))

    return fn


class _Partial:
    """One partition's figures, its Arrow batches added in order."""

    def __init__(self, d: int, fraction: float, hashed: int, moments: bool, drawn: bool):
        self.d, self.fraction, self.hashed = d, fraction, hashed
        self.rows = 0
        self.mn = self.mx = np.full(d, np.nan)
        self.samples: list[np.ndarray] = []
        self.sums = MomentSums() if moments else None
        self.kept: list | None = [] if drawn else None

    def add(self, batch) -> None:
        X = np.column_stack([batch.column(j).to_numpy(zero_copy_only=False).astype(np.float64)
                             for j in range(self.d)])  # fmt: skip
        with np.errstate(invalid="ignore"):
            self.mn = np.fmin(self.mn, np.fmin.reduce(X, axis=0))
            self.mx = np.fmax(self.mx, np.fmax.reduce(X, axis=0))
        self.samples.append(X[in_sample(X[:, : self.hashed], self.fraction)])
        self.rows += batch.num_rows
        if self.sums is not None:
            self.sums.add(batch.column("v"))
        if self.kept is not None:
            self.kept.append(batch.select(["v", "s"]).filter(batch.column("s")))

    def columns(self) -> dict:
        import pyarrow as pa

        out = {"mn": _blob(self.mn), "mx": _blob(self.mx),
               "sample": _blob(np.concatenate(self.samples))}  # fmt: skip
        if self.sums is not None:
            out.update(s1=_blob(self.sums.s1), s2=_blob(self.sums.s2),
                       n=pa.array([self.sums.n], pa.int64()))  # fmt: skip
        if self.kept is not None:
            out["drawn"] = _drawn_block(self.kept)
        return out


def _blob(a: np.ndarray):
    import pyarrow as pa

    return pa.array([a.tobytes()], pa.binary())


def _drawn_block(kept: list):
    """`drawn`: the vectors `v` of a partition's rows the draw `s` keeps, as one training
    block (b"" when none)."""
    import pyarrow as pa

    from fraud_app.spark.data import _arrow_encoder

    rows = pa.Table.from_batches(kept).combine_chunks().to_batches()
    blocks = [b.column(0)[0].as_py() for b in _arrow_encoder("v", "s", None)(iter(rows))]
    return pa.array([blocks[0] if blocks else b""], pa.binary())


def _feature_column(df: DataFrame, name: str, index: int, vector_column: str | None) -> Column:
    if name in df.columns:
        return F.col(f"`{name}`")
    if vector_column and vector_column in df.columns:
        return F.col(f"`{vector_column}`")[index]
    raise SchemaError(
        f"feature check: the table has neither a column `{name}` nor the vector column "
        f"{vector_column!r}; expected one of them. Received columns: {df.columns}"
    )
