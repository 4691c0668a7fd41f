"""`fraud-app export-onnx MODEL_URI OUT.onnx`: a trained ensemble as one ONNX graph.

MODEL_URI is an ensemble directory (holding ensemble.json) or a registry/run URI
(`models:/<name>@<alias>`, `models:/<name>/<version>`, `runs:/<run_id>/<path>`) resolved by
`fraud_app.tracking.models.resolve_model_dir`. The file takes `features` (float32
[batch, n]) and returns `fraud_probability` (mean of the members' sigmoids) and
`member_probabilities`; feature names and the model version are in its metadata_props.
It is checked with onnx.checker (full_check) before it is written.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.uris import local_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model_uri", metavar="MODEL_URI", help="ensemble directory or models:/ or runs:/ URI"
    )
    p.add_argument("out", metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument(
        "--model-version",
        help="version string for the metadata (default: the URI's version, else the version "
        "of the ONNX file import-onnx made MODEL_URI from, else sha256:<digest of the weights>)",
    )
    p.add_argument(
        "--replace", action="store_true", help="replace OUT.onnx when it exists (refused otherwise)"
    )


def resolve_model_dir(uri: str, config: AppConfig) -> tuple[Path, str | None]:
    """(ensemble directory, the registered version a models:/ URI stood for): the C1
    resolver when fraud_app.tracking provides it; else a local ensemble directory only."""
    from fraud_app.scoring.model_source import refuse_registry_without_tracking

    refuse_registry_without_tracking(uri, config)
    try:
        from fraud_app.tracking.models import resolve_model as resolve
    except ImportError:
        resolve = None
    if resolve is not None:
        found = resolve(uri, config=config)
        return Path(found.directory), found.version
    path = local_argument(uri, "export-onnx MODEL_URI", writes=False)
    if not (path / "ensemble.json").is_file():
        raise ConfigError(
            f"MODEL_URI {uri!r} is not an ensemble directory (no ensemble.json there), and "
            "registry/run URIs need fraud_app.tracking.models, which this install lacks"
        )
    return path, None


def default_version(
    uri: str, ensemble, registered: str | None = None, directory: Path | None = None
) -> str:
    """The registered version (also behind an alias or `latest`), else the ensemble's own
    record, else the version of the ONNX file `import-onnx` made `directory` from (it wrote
    sha256:<weights>), else a digest of the weights."""
    from fraud_app.interop.onnx_source import recorded_version, weights_digest

    if registered:
        return registered
    match = re.fullmatch(r"models:/[^/@]+/(\d+)", uri)
    if match:
        return match.group(1)
    if ensemble.metadata.get("model_version"):
        return str(ensemble.metadata["model_version"])
    return recorded_version(directory, ensemble) or weights_digest(ensemble)


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.interop.onnx_export import ensemble_to_onnx, save_onnx
    from fraud_app.models.ensemble import FraudEnsemble

    out = local_argument(args.out, "export-onnx OUT.onnx", writes=True)  # before the model loads
    if out.is_file() and not args.replace:  # checked before the model loads
        raise ConfigError(
            f"export-onnx: {out} exists; give another OUT.onnx, or pass --replace to replace it"
        )
    directory, registered = resolve_model_dir(args.model_uri, config)
    ensemble = FraudEnsemble.load(directory)
    version = args.model_version or default_version(args.model_uri, ensemble, registered, directory)
    proto = ensemble_to_onnx(ensemble, model_version=version, model_uri=args.model_uri)
    path = save_onnx(proto, out)
    summary = {
        "onnx": str(path),
        "bytes": path.stat().st_size,
        "members": len(ensemble.members),
        "features": len(ensemble.feature_names),
        "model_version": version,
        "input": "features float32 [batch, n_features]",
        "outputs": [
            "fraud_probability float32 [batch]",
            "member_probabilities float32 [batch, members]",
        ],
    }
    print(jsonout.dumps(summary, indent=2))
    return 0
