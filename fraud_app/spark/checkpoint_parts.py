"""The parts of a group checkpoint bound to its meta.json (fraud_app.spark.checkpoint).

Each file of a checkpoint is sealed on its own (its sha256 records, a JSON seal), so a part
of ANOTHER checkpoint copied in (an older group's optimizer shard or model/, a partial
restore from a backup) passed every check and was resumed beside this meta.json: weights of
one iteration with the optimizer moments or data positions of another, without a word.
meta.json records the sha256 of model.json and of each rank's optimizer JSON (which hold the
sha256 of every array beside them), and a load checks them before it reads anything else.
Checkpoints from before `parts` was recorded load as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dlcore.serialization import MODEL_JSON, optimizer_state_paths
from fraud_app.errors import TrainingError


def part_names(world: int) -> list[str]:
    """The files of a checkpoint whose sha256 meta.json records: model.json and each rank's
    optimizer JSON, which hold the sha256 of every array beside them."""
    shards = [optimizer_state_paths(".", rank=r, world_size=world)[0].name for r in range(world)]
    return [f"model/{MODEL_JSON}", *shards]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_parts(path: Path, meta: dict[str, Any]) -> None:
    """Every part of the checkpoint is the file meta.json was written with (checkpoints from
    before `parts` was recorded: not checked)."""
    parts = meta.get("parts")
    if parts is None:
        return
    try:
        names = part_names(int(meta["world_size"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"checkpoint {path}/meta.json is malformed: {exc!r}") from exc
    if not isinstance(parts, dict) or sorted(parts) != sorted(names):
        raise TrainingError(
            f"checkpoint {path}/meta.json: 'parts' must record the sha256 of {names}. "
            f"Received {parts!r}"
        )
    for name in names:
        try:
            digest = _digest(path / name)
        except OSError as exc:
            raise TrainingError(f"checkpoint {path}: cannot read {name}: {exc}") from exc
        if digest != parts[name]:
            raise TrainingError(
                f"checkpoint {path}: {name} is not the file this checkpoint was written with "
                "(its sha256 differs from the one meta.json records): a file of another "
                "checkpoint (an older group, another run) was copied in, or it was edited"
            )


def part_digests(target: Path, world: int) -> dict[str, str]:
    """name -> sha256 of each part of the checkpoint written in `target` (for meta.json)."""
    return {name: _digest(target / name) for name in part_names(world)}
