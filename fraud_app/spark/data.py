"""Training data path: Spark DataFrame -> Arrow -> NumPy blocks, one partition per worker.

Owns: encoding a DataFrame with a feature-array column, a label column and an
optional weight column into compact binary blocks (one per Arrow batch, via
`mapInArrow`, so no per-row Python objects), persisting them in Spark's block
manager, and decoding them inside a barrier task. A per-process cache keeps a
partition's decoded arrays in the Python worker across groups, so a group that
lands on the same worker does not re-read Spark at all; a miss falls back to the
persisted blocks. Does not own: shuffling and batching (see `cursor.py`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from fraud_app.errors import SchemaError

logger = logging.getLogger(__name__)

_MAGIC = b"FAB1"
_HEADER = struct.Struct("<4sQQB")  # magic, rows, features, has_weight
# A batch that cannot become a block (null or ragged feature vectors) travels as a PROBLEM
# block instead of failing the executor task, so the driver can raise one clear error
# (fraud_app.spark.summary) before training: magic, rows, null vectors, min width, max width.
_PROBLEM = b"FABX"
_PROBLEM_HEADER = struct.Struct("<4sQQQQ")
# to_training_blocks: the content partition a row was dealt from (dropped by the encoder)
_SOURCE = "__fraud_app_source_partition"
# How to_training_blocks deals rows to the workers, in every checkpoint's setup: a checkpoint
# written when they were dealt otherwise (before session 51: in the input's partition
# order; "by content" of the values as stored, before the cast to float32) holds data
# positions into other rows, and is refused rather than resumed.
ROWS_DEALT = "by float32 content"

# (run_id, partition) -> PartitionData. Lives as long as the Python worker process.
_PROCESS_CACHE: dict[tuple[str, int], PartitionData] = {}


@dataclass(frozen=True)
class PartitionData:
    X: np.ndarray  # (n, d) float32, C-contiguous
    y: np.ndarray  # (n,) float32
    w: np.ndarray | None  # (n,) float32 or None

    @property
    def rows(self) -> int:
        return len(self.y)


def encode_block(X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> bytes:
    header = _HEADER.pack(_MAGIC, X.shape[0], X.shape[1], 1 if w is not None else 0)
    parts = [
        header,
        np.ascontiguousarray(X, np.float32).tobytes(),
        np.ascontiguousarray(y, np.float32).tobytes(),
    ]
    if w is not None:
        parts.append(np.ascontiguousarray(w, np.float32).tobytes())
    return b"".join(parts)


def problem_block(rows: int, nulls: int, wmin: int, wmax: int) -> bytes:
    return _PROBLEM_HEADER.pack(_PROBLEM, rows, nulls, wmin, wmax)


def read_problem(blob: bytes) -> tuple[int, int, int, int] | None:
    """(rows, null vectors, min width, max width) of a problem block; None for a data block."""
    if blob[:4] != _PROBLEM:
        return None
    return _PROBLEM_HEADER.unpack_from(blob, 0)[1:]


def problem_error(column: str, nulls: int, wmin: int, wmax: int) -> SchemaError:
    if nulls:
        return SchemaError(
            f"column {column!r} has {nulls} null feature vectors; drop or impute them"
        )
    return SchemaError(
        f"column {column!r} holds feature vectors of different lengths ({wmin} to {wmax} "
        "values); every row needs the same width"
    )


def decode_blocks(blocks: Iterable[bytes], column: str = "features") -> PartitionData:
    Xs, ys, ws = [], [], []
    d = None
    for blob in blocks:
        problem = read_problem(blob)
        if problem is not None:
            raise problem_error(column, *problem[1:])
        magic, n, feats, has_w = _HEADER.unpack_from(blob, 0)
        if magic != _MAGIC:
            raise SchemaError(f"training block has bad magic {magic!r}; expected {_MAGIC!r}")
        if d is not None and feats != d:
            raise SchemaError(
                f"feature vectors have different lengths across rows: {d} and {feats}"
            )
        d = feats
        off = _HEADER.size
        Xs.append(np.frombuffer(blob, np.float32, n * feats, off).reshape(n, feats))
        off += 4 * n * feats
        ys.append(np.frombuffer(blob, np.float32, n, off))
        off += 4 * n
        if has_w:
            ws.append(np.frombuffer(blob, np.float32, n, off))
    if d is None:
        return PartitionData(np.zeros((0, 0), np.float32), np.zeros(0, np.float32), None)
    X = np.ascontiguousarray(np.concatenate(Xs)) if len(Xs) > 1 else Xs[0].copy()
    y = np.concatenate(ys) if len(ys) > 1 else ys[0].copy()
    w = (np.concatenate(ws) if len(ws) > 1 else ws[0].copy()) if ws else None
    return PartitionData(X, y, w)


def _arrow_encoder(features_col: str, label_col: str, weight_col: str | None):
    def encode(batches: Iterator) -> Iterator:
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows == 0:
                continue
            feats = batch.column(features_col)
            n = batch.num_rows
            lengths = feats.value_lengths().drop_null().to_numpy(zero_copy_only=False)
            wmin, wmax = (int(lengths.min()), int(lengths.max())) if lengths.size else (0, 0)
            if feats.null_count or wmin != wmax:
                blob = problem_block(n, feats.null_count, wmin, wmax)
                yield pa.RecordBatch.from_arrays([pa.array([blob], pa.binary())], ["block"])
                continue
            with np.errstate(over="ignore"):  # beyond float32's range: inf, which the checks name
                flat = feats.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                y = batch.column(label_col).to_numpy(zero_copy_only=False).astype(np.float32)
                w = None
                if weight_col:
                    w = batch.column(weight_col).to_numpy(zero_copy_only=False).astype(np.float32)
            X = flat.reshape(n, wmin)
            yield pa.RecordBatch.from_arrays(
                [pa.array([encode_block(X, y, w)], pa.binary())], ["block"]
            )

    return encode


def to_training_blocks(
    df, *, features_col: str, label_col: str, weight_col: str | None, num_workers: int
):
    """DataFrame -> persisted RDD of binary blocks with exactly `num_workers` partitions."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    missing = [c for c in (features_col, label_col, weight_col) if c and c not in df.columns]
    if missing:
        raise SchemaError(f"training DataFrame lacks column(s) {missing}. Available: {df.columns}")
    ftype = df.schema[features_col].dataType
    if not isinstance(ftype, T.ArrayType):
        raise SchemaError(
            f"column {features_col!r} must be array<float|double>. Received {ftype.simpleString()}; "
            "assemble features with fraud_app.features (or F.array(...))."
        )
    cols = [features_col, label_col] + ([weight_col] if weight_col else [])
    # The values as the trainer reads them (the encoder makes float32 of each, rounding as
    # Spark's cast does), so the rows are hashed and dealt as what they train: the same
    # features stored as array<double> instead of array<float>, or a label stored as int,
    # dealt the rows otherwise while the data digest (of the encoded blocks) matched.
    # The cast comes after the first shuffle: before it, it kept Spark from collapsing a
    # repartition of the input into that shuffle (one job more, measured).
    casts = [F.col(features_col).cast("array<float>")] + [
        F.col(c).cast("float") for c in cols if c != features_col
    ]
    content = [F.xxhash64(*casts), *casts[1:]]
    # Which rows a worker holds, and in which order, is a function of the rows alone, so a
    # (epoch, offset) data position means the same rows after a restart or a recompute:
    # the rows are first hash-partitioned by their content (the same sets whatever the
    # input's partitioning), then spread round-robin, which gives every worker an equal
    # share (+- num_workers rows) and, as Spark sorts each input partition before it deals
    # the rows out (spark.sql.execution.sortBeforeRepartition), deals them the same way
    # every time; within a partition they arrive in shuffle-block order, so they are
    # sorted by their content hash. A round-robin of the input as it came (one shuffle)
    # dealt the rows by the input's partitioning: the same table read as other files or
    # splits (another core count, a cluster restarted) gave the workers other rows, and a
    # run resumed from its checkpoint (the data digest is the same) continued each
    # worker's epoch over rows it had not been walking. The partition id column keeps
    # Spark from collapsing the two repartitions into the second (and from dropping the
    # sort below it). Each content partition is sorted by content before it is dealt:
    # Spark's own sort before a round-robin is a setting (sortBeforeRepartition), and
    # with it off the rows were dealt in shuffle-arrival order, the input's partitioning
    # again (measured: one parquet file vs four, other rows per worker).
    encoded = (
        df.select(*cols)
        .repartition(num_workers, *content)
        .select(*[cast.alias(c) for cast, c in zip(casts, cols, strict=True)])
        .sortWithinPartitions(*content)
        .withColumn(_SOURCE, F.spark_partition_id())
        .repartition(num_workers)
        .sortWithinPartitions(*content)
        .mapInArrow(_arrow_encoder(features_col, label_col, weight_col), "block binary")
    )
    blocks = encoded.rdd.map(lambda row: bytes(row[0])).persist(StorageLevel.MEMORY_AND_DISK)
    if blocks.getNumPartitions() != num_workers:
        blocks = blocks.coalesce(num_workers)
    return blocks


def partition_data(
    run_id: str, partition: int, blocks: Iterator[bytes]
) -> tuple[PartitionData, bool]:
    """This partition's arrays, from the process cache when present. Returns (data, cache_hit)."""
    key = (run_id, partition)
    hit = _PROCESS_CACHE.get(key)
    if hit is not None:
        # Drain the input anyway: PySpark reuses a Python worker only if the task read its
        # whole input; otherwise the worker exits and the next task loses this cache.
        for _ in blocks:
            pass
        return hit, True
    for stale in [k for k in _PROCESS_CACHE if k[0] != run_id]:
        del _PROCESS_CACHE[stale]
    data = decode_blocks(blocks)
    _PROCESS_CACHE[key] = data
    return data, False
