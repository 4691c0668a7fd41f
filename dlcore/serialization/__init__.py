"""Saving and loading models and optimizer state: JSON + .npz, never pickle.

Owns dlcore's on-disk formats. Loading reads JSON and `np.load(..., allow_pickle=False)`
only, so loading never runs code from a file, and any malformed, truncated or
mismatched file raises `SerializationError` naming the file and what differed.

- `files`: atomic JSON/.npz writers, the safe .npz reader, sha256 array records, sealed
  JSON (a file's own sha256 under `SEAL`: model.json, optimizer shards, checkpoint meta)
  (reused by the distributed trainer for its checkpoints).
- `model`: `save_model` / `load_model`, a model as a directory.
- `optimizer_state`: one shard's optimizer state per rank.
"""

from dlcore.serialization.files import (
    SEAL,
    check_seal,
    read_json,
    read_npz,
    seal,
    sha256_array,
    write_json_atomic,
    write_npz_atomic,
)
from dlcore.serialization.model import (
    MODEL_FORMAT,
    MODEL_JSON,
    MODEL_VERSION,
    PARAMS_NPZ,
    STATE_NPZ,
    load_model,
    save_model,
)
from dlcore.serialization.optimizer_state import (
    OPTIMIZER_FORMAT,
    OPTIMIZER_VERSION,
    load_optimizer_state,
    optimizer_state_paths,
    save_optimizer_state,
)

__all__ = [
    "MODEL_FORMAT",
    "MODEL_JSON",
    "MODEL_VERSION",
    "OPTIMIZER_FORMAT",
    "OPTIMIZER_VERSION",
    "PARAMS_NPZ",
    "SEAL",
    "STATE_NPZ",
    "check_seal",
    "load_model",
    "load_optimizer_state",
    "optimizer_state_paths",
    "read_json",
    "read_npz",
    "save_model",
    "save_optimizer_state",
    "seal",
    "sha256_array",
    "write_json_atomic",
    "write_npz_atomic",
]
