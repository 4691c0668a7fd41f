"""DataCursor: a worker's deterministic walk over its partition, resumable from a position.

Each local epoch is a permutation of the partition drawn from (seed, rank,
epoch), so the whole stream of minibatches is a pure function of the position
(epoch, offset): a checkpoint stores two integers and a restarted worker sees
exactly the batches it would have seen. A worker whose partition is smaller
than others' simply wraps into its next local epoch sooner (uneven partitions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraud_app.errors import EmptyInputError
from fraud_app.spark.data import PartitionData


@dataclass(frozen=True)
class CursorPosition:
    epoch: int = 0
    offset: int = 0


class DataCursor:
    def __init__(
        self,
        data: PartitionData,
        *,
        seed: int,
        rank: int,
        shuffle: bool = True,
        position: CursorPosition | None = None,
    ) -> None:
        if data.rows == 0:
            raise EmptyInputError(
                f"rank {rank} has an empty data partition; it cannot draw batches"
            )
        self.data = data
        self.seed, self.rank, self.shuffle = int(seed), int(rank), shuffle
        pos = position or CursorPosition()
        self.epoch, self.offset = pos.epoch, pos.offset
        self._order: np.ndarray | None = None
        self._order_epoch = -1
        self._buf_X: np.ndarray | None = None

    @property
    def position(self) -> CursorPosition:
        return CursorPosition(self.epoch, self.offset)

    def _permutation(self) -> np.ndarray:
        if self._order_epoch != self.epoch:
            n = self.data.rows
            if self.shuffle:
                rng = np.random.default_rng([self.seed, self.rank, self.epoch])
                self._order = rng.permutation(n)
            else:
                self._order = np.arange(n)
            self._order_epoch = self.epoch
        return self._order

    def next_indices(self, batch: int) -> np.ndarray:
        """Row indices of the next `batch` rows, wrapping into the next epoch as needed."""
        n = self.data.rows
        parts, need = [], batch
        while need > 0:
            order = self._permutation()
            take = min(need, n - self.offset)
            parts.append(order[self.offset : self.offset + take])
            self.offset += take
            need -= take
            if self.offset >= n:
                self.epoch, self.offset = self.epoch + 1, 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def next_batch(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        idx = self.next_indices(batch)
        d = self.data
        if self._buf_X is None or len(self._buf_X) != batch:
            self._buf_X = np.empty((batch, d.X.shape[1]), np.float32)
        np.take(d.X, idx, axis=0, out=self._buf_X)
        return self._buf_X, d.y[idx], None if d.w is None else d.w[idx]
