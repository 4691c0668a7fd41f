"""What differs between a refused checkpoint's training setup and this run's, in words.

Owns the names of the parts of a setup (SETUP_NAMES: the config keys an operator changes)
and `setup_differences`, the "(what differs)" of the refusal of a checkpoint of another
setup: each part that differs, with up to three of its values (then -> now). What a setup
holds and its fingerprint belong to fraud_app.spark.engine_base; the refusal itself and
reading the checkpoint to fraud_app.spark.checkpoint.
"""

from __future__ import annotations

from typing import Any

# How the parts of a setup are named when a checkpoint of another setup is refused.
SETUP_NAMES = {
    "model": "the model (training.model: architecture, widths, dropout, encoding)",
    "loss": "the loss (training.loss)",
    "optimizer": "the optimizer or its learning rate schedule (training.optimizer, "
    "scale_lr, warmup, lr_decay with the iteration count)",
    "num_workers": "training.distributed.num_workers",
    "global_batch_size": "training.distributed.global_batch_size",
    "seed": "the seed (training.seed + member)",
    "shuffle": "DistributedConfig.shuffle (the order each worker reads its rows in)",
    "rows": "the training rows' count",
    "data": "the training data (its labels, features or weights)",
    "data_rows": "the training rows, row by row (a checksum of each row's features, label "
    "and weight: a row added, dropped or changed, or values moved between rows)",
    "starting_weights": "the starting weights (a warm start from another model)",
    "mixup_alpha": "training.distributed.mixup_alpha",
    "compression": "training.distributed.compression",
    "early_stopping": "early stopping (its settings or the validation window's rows)",
    "rows_dealt": "how the training rows are dealt to the workers (a checkpoint of a release "
    "before session 51: its workers' data positions point into other rows)",
}


_UNRECORDED = "not recorded in this checkpoint (an older release wrote it)"


def setup_differences(saved: Any, current: dict[str, Any] | None) -> str:
    """What differs between a checkpoint's setup and this run's, in words: each part that
    differs, with up to three of its values that differ (then -> now)."""
    if not isinstance(saved, dict) or current is None:
        return "model, optimizer, data, worker count or another setting changed"
    changed = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        name = SETUP_NAMES.get(key, key)
        if key in ("data", "data_rows", "starting_weights"):  # digests: nothing to show
            # a part the checkpoint lacks was added to the setup after it was written
            changed.append(f"{name} changed" if old is not None else f"{name}: {_UNRECORDED}")
            continue
        leaves = _leaf_differences(old, new, key)
        shown = ", ".join(
            f"{'' if where == key else where + ' '}{a!r} then, {b!r} now"
            for where, a, b in leaves[:3]
        )
        more = f" and {len(leaves) - 3} more" if len(leaves) > 3 else ""
        changed.append(f"{name}: {shown}{more}")
    return "; ".join(changed) or "its fingerprint differs"


def _leaf_differences(old: Any, new: Any, where: str) -> list[tuple[str, Any, Any]]:
    """(path, old, new) of every value that differs between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out += _leaf_differences(old.get(key), new.get(key), f"{where}.{key}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                out += _leaf_differences(a, b, f"{where}[{i}]")
        return out
    if isinstance(old, list | dict) or isinstance(new, list | dict):
        return [(where, _short(old), _short(new))]
    return [(where, old, new)]


def _short(value: Any) -> Any:
    if isinstance(value, list):
        return f"<{len(value)} items>"
    return f"<{len(value)} keys>" if isinstance(value, dict) else value
