"""What the trainer learns about its data in the pass it makes anyway.

`summarize_blocks` reads the encoded training blocks ONCE (the job that also fixes each
worker's row count, see `trainer.prepare_training_data`) and returns a `DataSummary`:
row and positive counts, feature widths, null / ragged vectors, NaN or infinite
features, labels other than 0 and 1, and the float64 sums a Standardize layer needs.
So a caller that wants input checks and feature moments (the Spark ML estimators) gets
them without another Spark job. `require_trainable` raises the structural errors the
trainer cannot train through; content checks (NaN, labels) are the caller's choice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from fraud_app.errors import EmptyInputError, SchemaError
from fraud_app.spark.data import _HEADER, problem_error, read_problem


@dataclass(frozen=True)
class DataSummary:
    rows: int
    positives: int
    widths: tuple[int, ...]  # distinct feature widths seen (one when the data is sound)
    null_rows: int  # null feature vectors
    nonfinite: int  # NaN or infinite feature values (in blocks that could be encoded)
    bad_labels: int  # labels that are neither 0 nor 1 (null labels count)
    bad_label_example: float
    s1: np.ndarray  # per-feature sum of the finite values (float64)
    s2: np.ndarray  # per-feature sum of their squares
    # per-row weights (when the data has a weight column): rows whose weight is negative,
    # and rows whose weight is null, NaN or infinite (a null reaches the blocks as NaN)
    negative_weights: int = 0
    nonfinite_weights: int = 0
    negative_weight_example: float = 0.0
    # sums of the finite, non-negative weights: of all rows and of the label-1 rows (a
    # class whose rows all weigh 0 leaves the loss one class, as if its rows were absent)
    weight_sum: float = 0.0
    positive_weight_sum: float = 0.0
    # per-feature minimum and maximum of the finite values (empty when not known): a
    # feature with lo == hi held one value in every row (constant_values)
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # with a weight column: per-feature sums of w * x and w * x^2 over the rows of usable
    # weight (empty without one). The moments are then the weighted ones, as Spark's own
    # classifiers standardise with weighted statistics: a row of weight 0 moves neither
    # the loss nor the standardisation, like a row left out
    ws1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ws2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # the sum (wrapping, as a signed 64-bit integer) of a hash of every row's float32
    # features, label and weight (`row_checksum`): which rows the data holds, whatever
    # their order or partitioning. The digest above holds counts and per-feature sums
    # only, so labels moved between rows, or a feature's values dealt to other rows,
    # passed as the same data (session 55). Computed in the trainer's pass over its
    # blocks (`summarize_blocks`) only; 0 in a summary of `summarize_arrays` alone
    content: int = 0

    @property
    def content_digest(self) -> str:
        """`content` as 16 hex digits (the checkpoint setup's `data_rows`)."""
        return f"{self.content & _MASK64:016x}"

    @property
    def width(self) -> int | None:
        return self.widths[0] if len(self.widths) == 1 else None

    def digest(self) -> str:
        """What the data is, for matching checkpoints to it: the counts exactly, the sums
        quantised (their last bits depend on the order the rows were summed in, so a
        resumed run reading the same rows must get the same digest)."""
        scale = np.sqrt(np.maximum(self.s2, 0.0)) + 1e-30
        s1 = np.rint(self.s1 / scale * 1e6).astype(np.int64).tolist()
        other = [float(f"{v:.6g}") for v in (*self.s2, self.weight_sum, self.positive_weight_sum)]
        parts = [self.rows, self.positives, list(self.widths), s1, other]
        if self.ws1.size:  # the same rows and weight sum weighted otherwise: other moments
            parts.append([float(f"{v:.6g}") for v in (*self.ws1, *self.ws2)])
        blob = json.dumps(parts)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def constant_values(self) -> np.ndarray | None:
        """Per feature the one value it held in every row with a finite value and a weight
        above 0 (lo == hi), NaN for a feature that varied; None when the minimum and maximum
        are not known."""
        if self.lo.size == 0 or self.lo.shape != self.hi.shape:
            return None
        return np.where(self.lo == self.hi, self.lo, np.nan)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and (population) standard deviation; weighted by the weight
        column when there is one (with weights of 0 on outlying rows, the unweighted
        moments scaled the other rows' features to near 0: AP 0.28 where leaving those rows
        out gave 0.93)."""
        if self.ws1.size and self.ws1.shape == self.s1.shape and self.weight_sum > 0:
            n, s1, s2 = self.weight_sum, self.ws1, self.ws2
        else:
            n, s1, s2 = max(self.rows, 1), self.s1, self.s2
        mean = s1 / n
        return mean, np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))

    @classmethod
    def combine(cls, parts: list[DataSummary]) -> DataSummary:
        sums = [p for p in parts if p.s1.size]
        width = {p.s1.size for p in sums}
        return cls(
            rows=sum(p.rows for p in parts),
            positives=sum(p.positives for p in parts),
            widths=tuple(sorted({w for p in parts for w in p.widths})),
            null_rows=sum(p.null_rows for p in parts),
            nonfinite=sum(p.nonfinite for p in parts),
            bad_labels=sum(p.bad_labels for p in parts),
            bad_label_example=next((p.bad_label_example for p in parts if p.bad_labels), 0.0),
            s1=np.sum([p.s1 for p in sums], axis=0) if len(width) == 1 else np.zeros(0),
            s2=np.sum([p.s2 for p in sums], axis=0) if len(width) == 1 else np.zeros(0),
            negative_weights=sum(p.negative_weights for p in parts),
            nonfinite_weights=sum(p.nonfinite_weights for p in parts),
            negative_weight_example=next(
                (p.negative_weight_example for p in parts if p.negative_weights), 0.0
            ),
            weight_sum=sum(p.weight_sum for p in parts),
            positive_weight_sum=sum(p.positive_weight_sum for p in parts),
            lo=_extreme(np.fmin, [p.lo for p in sums], width),
            hi=_extreme(np.fmax, [p.hi for p in sums], width),
            ws1=_weighted_sum([p.ws1 for p in sums], width),
            ws2=_weighted_sum([p.ws2 for p in sums], width),
            content=_wrap64(sum(p.content for p in parts)),
        )


def _weighted_sum(arrays: list[np.ndarray], width: set[int]) -> np.ndarray:
    """The weighted sums over the parts (empty unless every part with sums has them)."""
    if len(width) != 1 or not arrays or any(a.size != next(iter(width)) for a in arrays):
        return np.zeros(0)
    return np.sum(arrays, axis=0)


def _extreme(reduce, arrays: list[np.ndarray], width: set[int]) -> np.ndarray:
    """The per-feature min or max over the parts that know it (empty unless every part with
    sums does, at one width)."""
    if len(width) != 1 or not arrays or any(a.size != next(iter(width)) for a in arrays):
        return np.zeros(0)
    return reduce.reduce(np.stack(arrays), axis=0)


def summarize_arrays(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> DataSummary:
    """The summary of one batch of rows (X float32 (n, d), y float labels, w weights or None)."""
    finite = np.isfinite(X)
    w_finite = np.isfinite(w) if w is not None else np.ones(0, bool)
    negative = w[w_finite & (w < 0)] if w is not None else np.zeros(0)
    usable = np.where(w_finite & (w >= 0), w, 0).astype(np.float64) if w is not None else None
    Xf = np.where(finite, X, 0).astype(np.float64)
    # lo / hi over the rows that count: a row of weight 0 neither makes a feature vary nor
    # sets its range (Spark's classifiers fit as if those rows were not there)
    counted = finite if usable is None else finite & (usable > 0)[:, None]
    bad = ~((y == 0) | (y == 1))
    return DataSummary(
        rows=len(y),
        positives=int((y == 1).sum()),
        widths=(X.shape[1],),
        null_rows=0,
        nonfinite=int(finite.size - np.count_nonzero(finite)),
        bad_labels=int(bad.sum()),
        bad_label_example=float(y[bad][0]) if bad.any() else 0.0,
        s1=Xf.sum(0),
        s2=(Xf * Xf).sum(0),
        negative_weights=int(negative.size),
        nonfinite_weights=int(w_finite.size - np.count_nonzero(w_finite)),
        negative_weight_example=float(negative[0]) if negative.size else 0.0,
        weight_sum=float(usable.sum()) if usable is not None else 0.0,
        positive_weight_sum=float(usable[y == 1].sum()) if usable is not None else 0.0,
        lo=_finite_extreme(np.min, X, counted, np.inf),
        hi=_finite_extreme(np.max, X, counted, -np.inf),
        ws1=usable @ Xf if usable is not None else np.zeros(0),
        ws2=usable @ (Xf * Xf) if usable is not None else np.zeros(0),
    )


_MASK64 = (1 << 64) - 1
# FNV-1a's 64-bit prime and offset, per 32-bit word; splitmix64's finaliser per row
_FNV_PRIME, _FNV_OFFSET = np.uint64(0x100000001B3), np.uint64(0xCBF29CE484222325)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _wrap64(value: int) -> int:
    """`value` modulo 2**64 as a signed 64-bit integer (a Spark long holds it)."""
    return ((value + (1 << 63)) & _MASK64) - (1 << 63)


def row_checksum(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> int:
    """The sum over the rows (modulo 2**64, signed) of a 64-bit hash of each row's values
    as the trainer reads them (float32 features, label and weight; -0.0 as 0.0): the same
    for the same rows in any order, blocks or partitions, another number (but for a
    chance of 2**-64) when a label, a feature value or a weight moved to another row."""
    n = len(y)
    if n == 0:
        return 0
    # one row of words per column, so each step below reads contiguous memory (a column
    # of the row-major block was a strided read: 2-3x the time, review55c)
    columns = [np.asarray(X, np.float32).reshape(n, -1).T, np.asarray(y, np.float32).reshape(1, n)]
    if w is not None:
        columns.append(np.asarray(w, np.float32).reshape(1, n))
    words = (np.vstack(columns) + np.float32(0)).view(np.uint32)
    h = np.full(n, _FNV_OFFSET, np.uint64)
    for column in words:
        h ^= column
        h *= _FNV_PRIME
    h ^= h >> np.uint64(30)
    h *= _MIX[0]
    h ^= h >> np.uint64(27)
    h *= _MIX[1]
    h ^= h >> np.uint64(31)
    return _wrap64(int(h.sum(dtype=np.uint64)))


def _finite_extreme(reduce, X: np.ndarray, finite: np.ndarray, empty: float) -> np.ndarray:
    """Per column the min or max of the finite values (`empty` where there is none)."""
    if len(X) == 0:
        return np.full(X.shape[1], empty)
    return reduce(np.where(finite, X, empty), axis=0).astype(np.float64)


def _summarize_blob(blob: bytes) -> DataSummary:
    problem = read_problem(blob)
    if problem is not None:
        rows, nulls, wmin, wmax = problem
        widths = tuple(sorted({w for w in (wmin, wmax) if w or not nulls}))
        return DataSummary(rows, 0, widths, nulls, 0, 0, 0.0, np.zeros(0), np.zeros(0))
    _, n, feats, has_w = _HEADER.unpack_from(blob, 0)
    off = _HEADER.size
    X = np.frombuffer(blob, np.float32, n * feats, off).reshape(n, feats)
    y = np.frombuffer(blob, np.float32, n, off + 4 * n * feats)
    w = np.frombuffer(blob, np.float32, n, off + 4 * n * (feats + 1)) if has_w else None
    # the row checksum here only, where a checkpoint's setup reads it: the estimators'
    # checking pass (fraud_app.ml.data) summarizes the same rows and has no use for it
    return replace(summarize_arrays(X, y, w), content=row_checksum(X, y, w))


def _partition_summary(index: int, it: Iterator[bytes]):
    # Module level, so Spark pickles it by reference. Reads its whole input: a task that
    # leaves input unread makes PySpark retire its Python worker (and its data cache).
    parts = [_summarize_blob(blob) for blob in it]
    yield index, DataSummary.combine(parts) if parts else None


def summarize_blocks(blocks) -> tuple[DataSummary, list[int]]:
    """The whole data's summary and each partition's row count, in ONE Spark job."""
    found = dict(blocks.mapPartitionsWithIndex(_partition_summary).collect())
    parts = [found[i] for i in sorted(found)]
    rows = [p.rows if p is not None else 0 for p in parts]
    return DataSummary.combine([p for p in parts if p is not None]), rows


def require_trainable(
    summary: DataSummary, rows: list[int], features_col: str, weight_col: str | None = None
) -> None:
    """The errors no training can get through: no rows, an empty worker partition, null or
    ragged feature vectors, weights that are negative, null, NaN or infinite."""
    if summary.rows == 0:
        raise EmptyInputError("the training DataFrame has no rows")
    if summary.null_rows or len(summary.widths) != 1:
        wmin, wmax = (min(summary.widths), max(summary.widths)) if summary.widths else (0, 0)
        raise problem_error(features_col, summary.null_rows, wmin, wmax)
    empty = [i for i, r in enumerate(rows) if r == 0]
    if empty:
        k, n = len(rows), summary.rows
        # the rows are dealt by their content (fraud_app.spark.data.to_training_blocks):
        # each worker's share is within k rows of n / k, so every worker holds a row only
        # when n > k (k - 1); "fewer workers than rows" was not enough (4 workers, 5 rows)
        most = max(w for w in range(1, k + 1) if w * (w - 1) < n)
        raise EmptyInputError(
            f"worker partition(s) {empty} of {k} received no rows ({n} rows in all; the "
            f"rows are dealt to the workers by their content, each worker's share within "
            f"{k} rows of an equal one); use at most {most} worker(s) for {n} rows"
        )
    check_weights(summary, weight_col)


def check_weights(summary: DataSummary, weight_col: str | None, what: str = "") -> None:
    """Per-row weights must be finite and >= 0 (dlcore's loss refuses others in the training
    tasks, where a null showed as `nan` and the error named no column), and each class
    present needs some weight: rows that all weigh 0 train nothing (the network kept its
    initial weights without a word), as Spark's own classifiers refuse a weight sum of 0."""
    if not (summary.negative_weights or summary.nonfinite_weights):
        if weight_col:
            _check_weight_sums(summary, weight_col, what)
        return
    found = []
    if summary.negative_weights:
        example = summary.negative_weight_example
        found.append(f"{summary.negative_weights} negative (e.g. {example!r})")
    if summary.nonfinite_weights:
        found.append(
            f"{summary.nonfinite_weights} null, NaN or infinite (weights are float32: a "
            "number beyond 3.4e38, such as 1e39, is infinite too)"
        )
    raise SchemaError(
        f"{what + ': ' if what else ''}weight column {weight_col or 'weight'!r} must hold finite weights "
        f">= 0; of the {summary.rows} training rows, {' and '.join(found)}. Drop those rows "
        "or fix their weights (e.g. F.coalesce(weight, F.lit(1.0)) for missing ones)"
    )


def _check_weight_sums(summary: DataSummary, weight_col: str, what: str) -> None:
    normals = summary.rows - summary.positives
    zero = [
        name
        for name, rows, total in (
            ("label 1 (fraud)", summary.positives, summary.positive_weight_sum),
            ("label 0 (normal)", normals, summary.weight_sum - summary.positive_weight_sum),
        )
        if rows and total <= 0
    ]
    if not zero:
        return
    which = "every one of the" if len(zero) == 2 else f"all {' '.join(zero)} rows of the"
    raise SchemaError(
        f"{what + ': ' if what else ''}weight column {weight_col!r} gives {which} "
        f"{summary.rows} training rows a weight of 0, so {' and '.join(zero)} would not "
        "count in the loss; give each class positive weights (or leave weightCol unset)"
    )


def check_content(summary: DataSummary, features_col: str, label_col: str, what: str) -> None:
    """NaN / infinite features and non-binary labels: a clear error naming the column."""
    if summary.nonfinite:
        raise SchemaError(
            f"{what}: features column {features_col!r} holds {summary.nonfinite} null, NaN "
            "or infinite values (features are float32: a number beyond +-3.4e38, such as "
            "1e300, is infinite too); impute them (e.g. pyspark.ml.feature.Imputer) or rescale "
            "them before fitting"
        )
    if summary.bad_labels:
        raise SchemaError(
            f"{what}: label column {label_col!r} must hold only 0 and 1 (binary); "
            f"{summary.bad_labels} rows do not (e.g. {label_text(summary.bad_label_example)})"
        )


def label_text(value: float) -> str:
    # a null label reaches the arrays as NaN: name both, the user's data most likely has nulls
    return "a null or NaN label" if math.isnan(value) else repr(value)
