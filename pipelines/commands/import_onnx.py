"""`fraud-app import-onnx MODEL.onnx OUT_DIR`: an ONNX model as an ensemble directory.

The directory is a normal FraudEnsemble (ensemble.json + dlcore member directories), so
the batch scorer and `fraud-app` commands that take a model directory use it as is, and
its members fine-tune like any dlcore model. A file written by `export-onnx` comes back
member by member; any other graph becomes one member (see fraud_app.interop.onnx_import
for the ops it accepts). The file's model version is kept in OUT_DIR/onnx_source.json
(fraud_app.interop.onnx_source), export-onnx's default version for that directory.
"""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx_file", metavar="MODEL.onnx", help="ONNX file to import")
    p.add_argument("out", metavar="OUT_DIR", help="ensemble directory to write")
    p.add_argument(
        "--feature-names",
        help="comma-separated feature names in input order (default: the file's "
        "feature_names metadata, else feature_000, feature_001, ...)",
    )
    p.add_argument(
        "--output",
        metavar="NAME",
        help="the graph output to import when the graph has several (e.g. a logit and a "
        "probability); a file written by export-onnx imports whole (only its "
        "fraud_probability may be named)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the ensemble already saved in OUT_DIR (refused otherwise)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.errors import ConfigError
    from fraud_app.interop.onnx_import import import_ensemble
    from fraud_app.interop.onnx_source import record_source
    from fraud_app.uris import local_argument

    # both opened with Python: a file: URI as its path, a remote one refused before the read
    onnx_file = local_argument(args.onnx_file, "import-onnx MODEL.onnx", writes=False)
    out = local_argument(args.out, "import-onnx OUT_DIR", writes=True)
    if (out / "ensemble.json").is_file() and not args.replace:
        raise ConfigError(
            f"import-onnx: {args.out} already holds an ensemble; give another OUT_DIR, or "
            "pass --replace to replace it"
        )

    # "a, b" names "a" and "b": the scorer looks features up by name, and " b" matched none
    names = [n.strip() for n in args.feature_names.split(",")] if args.feature_names else None
    # the file read and parsed once: the ensemble and the version it records
    imported = import_ensemble(onnx_file, feature_names=names, output=args.output)
    ensemble = imported.ensemble
    path = ensemble.save(out)
    # the file's model version, beside (not in) the metadata: export-onnx's default again
    version = record_source(path, imported.model_version, imported.model_uri, ensemble, onnx_file)
    summary = {
        "ensemble": str(path),
        "model_version": version,
        "members": len(ensemble.members),
        "features": len(ensemble.feature_names),
        "parameters_per_member": [m.params.size for m in ensemble.members],
    }
    print(jsonout.dumps(summary, indent=2))
    return 0
