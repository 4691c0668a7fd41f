"""`fraud-app inspect PATH`: check a saved model or training checkpoint and summarise it.

Loads the directory exactly as training and scoring would (JSON and .npz only, never
pickle; every array checked against its recorded shape, dtype and checksum; weights
must be finite; sizes checked before anything is allocated) and prints a JSON
summary. A damaged or hostile file ends in a one-line error that names it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError

USES_PATHS = False  # reads only the PATH argument, writes nothing


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        help="a dlcore model directory (holds model.json) or a training checkpoint directory "
        "(holds LATEST.json and group-NNNNNN/)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from dlcore.serialization import MODEL_JSON, load_model

    path = Path(args.path)
    if (path / MODEL_JSON).is_file():
        model = load_model(path)
        summary = {"kind": "model", "path": str(path), **_model_figures(model)}
    elif (path / "LATEST.json").is_file() or any(path.glob("group-*")):
        summary = _checkpoint(path)
    else:
        raise ConfigError(
            f"{path} is neither a saved model (no {MODEL_JSON}) nor a training checkpoint "
            "directory (no LATEST.json, no group-NNNNNN/); pass the directory that holds them"
        )
    print(jsonout.dumps(summary, indent=2))
    return 0


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
    }
