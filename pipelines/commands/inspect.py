"""`fraud-app inspect PATH`: check a saved model or training checkpoint and summarise it.

PATH: a dlcore model directory (model.json), an ensemble directory (ensemble.json: what
`fraud-app train` writes under models/<run>/ and `import-onnx` writes), a checkpoint
directory (LATEST.json / group-NNNNNN/), or a run's checkpoint directory
(checkpoints/<run>/: one checkpoint directory per member).

Loads the directory exactly as training and scoring would (JSON and .npz only, never
pickle; every array checked against its recorded shape, dtype and checksum; weights
must be finite; sizes checked before anything is allocated) and prints a JSON
summary. A damaged or hostile file ends in a one-line error that names it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.uris import local_argument

USES_PATHS = False  # reads only the PATH argument, writes nothing


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        metavar="PATH",
        help="a dlcore model directory (holds model.json), an ensemble directory (holds "
        "ensemble.json: models/<run>/, or a fraud_app.ml model saved with write().save), a training checkpoint directory (holds LATEST.json and "
        "group-NNNNNN/) or a run's checkpoint directory (checkpoints/<run>/)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from dlcore.serialization import MODEL_JSON, load_model
    from fraud_app.models.ensemble import local_ensemble_dir

    path = local_argument(args.path, "inspect PATH", writes=False)  # file: URI: its path
    if not path.exists():  # it said "neither a saved model nor a training checkpoint"
        raise ConfigError(f"{path} does not exist; pass a model or checkpoint directory")
    path = local_ensemble_dir(path) or path  # also a fraud_app.ml model's write().save(path)
    runs = sorted(p for p in path.glob("*") if _is_checkpoint(p)) if path.is_dir() else []
    if (path / MODEL_JSON).is_file():
        model = load_model(path)
        summary = {"kind": "model", "path": str(path), **_model_figures(model)}
    elif (path / "ensemble.json").is_file():
        summary = _ensemble(path)
    elif _is_checkpoint(path):
        summary = _checkpoint(path)
    elif runs:  # checkpoints/<run>/: member-NN/ (and refit/...) checkpoint directories
        summary = {"kind": "run checkpoints", "path": str(path), "checkpoints": {
            p.name: _checkpoint(p) for p in runs}}  # fmt: skip
    else:
        raise ConfigError(
            f"{path} is neither a saved model (no {MODEL_JSON}, no ensemble.json) nor a "
            "training checkpoint directory (no LATEST.json, no group-NNNNNN/); pass the "
            "directory that holds them"
        )
    print(jsonout.dumps(summary, indent=2))
    return 0


def _is_checkpoint(path: Path) -> bool:
    return (path / "LATEST.json").is_file() or any(path.glob("group-*"))


def _ensemble(path: Path) -> dict:
    from fraud_app.models.ensemble import FraudEnsemble

    # every member loaded and checked as `score` does; a look, so any owner (as checkpoints)
    ensemble = FraudEnsemble.load(path, trusted=False)
    scoring = ensemble.metadata.get("scoring") or {}
    return {
        "kind": "ensemble",
        "path": str(path),
        "features": len(ensemble.feature_names),
        "threshold": scoring.get("threshold"),
        # the budget it was set for and the rows whose scores set it (session 35; a model
        # saved before says nothing: its threshold came from the validation window)
        "alert_budget": scoring.get("alert_budget"),
        "threshold_rows": scoring.get("threshold_rows"),
        "members": [_model_figures(m) for m in ensemble.members],
    }


def _model_figures(model) -> dict:
    return {
        "in_features": model.in_features,
        "out_features": model.out_features,
        "parameters": int(model.params.size),
        "dtype": model.dtype.name,
    }


def _checkpoint(path: Path) -> dict:
    from fraud_app.spark.checkpoint import CheckpointStore

    store = CheckpointStore(path, fingerprint=None)
    optimizer = store.saved_optimizer()
    loaded = store.load(optimizer)
    if loaded is None:
        raise ConfigError(f"{path} holds no checkpoint")
    state, model = loaded
    return {
        "kind": "checkpoint",
        "path": str(path),
        "group": state.group,
        "iteration": state.iteration,
        "world_size": len(state.opt_states),
        "optimizer": type(optimizer).__name__,
        **_model_figures(model),
        **_older_release(path, state.group),
    }


def _older_release(path: Path, group: int) -> dict:
    """{resumable: false, why: ...} for a checkpoint an older release wrote (its meta.json
    without the training setup, before session 23), which `train` refuses to resume; it
    was shown like any other."""
    from fraud_app.spark.checkpoint import older_release

    meta_path = path / f"group-{group:06d}" / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict) or "setup" in meta:
        return {}
    return {"resumable": False, "why": older_release(meta_path.parent, path)}
