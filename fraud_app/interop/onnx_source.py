"""The model version an imported ONNX file carried, kept beside the ensemble it became.

`export-onnx` writes the model's version into the file (`model_version`); `import-onnx`
then `export-onnx` wrote `sha256:<weights>` instead: the imported ensemble kept no record
of it. It is not put into the ensemble's `metadata`: an exported ensemble imports with
its metadata unchanged and exports again byte for byte (the interop contract), and the
version names a registry entry, not something the model learnt. `import-onnx` writes it to
`onnx_source.json` in the ensemble directory (sealed JSON: the version, the file's
`model_uri` when it is a registry or remote URI (a local path is left out: the directory is
shared), the file's name (not its path), and a digest of the weights it describes; a record
without its seal is refused, unlike check_seal's pre-seal files); `export-onnx` takes it
as the default version of that directory when the weights still match (a fine-tuned copy
saved elsewhere has other weights, and `FraudEnsemble.save` replaces the whole directory,
so the record never outlives the weights it names). `--model-version` still overrides.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dlcore.errors import SerializationError
from dlcore.serialization import SEAL, check_seal, write_json_atomic
from dlcore.serialization.files import read_json
from fraud_app.errors import ConfigError

SOURCE_JSON = "onnx_source.json"
_KEYS = frozenset({"model_version", "model_uri", "onnx_file", "weights"})


def weights_digest(ensemble: Any) -> str:
    """`sha256:` + 16 hex of the members' weights (export-onnx's last-resort version)."""
    digest = hashlib.sha256()
    for member in ensemble.members:
        digest.update(member.params.data.tobytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def file_version(proto: Any) -> str | None:
    """The version an ONNX file records: export-onnx's `model_version` metadata, else the
    ModelProto's own `model_version` field (other exporters); None when it has neither."""
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("model_version"):
        return props["model_version"]
    return str(proto.model_version) if proto.model_version > 0 else None


def record_source(
    directory: Path, version: str | None, model_uri: str | None, ensemble: Any, onnx_file: Path
) -> str | None:
    """Write `onnx_source.json` in the ensemble `directory` just saved from an ONNX file
    (`version` and `model_uri`: what the file recorded, `import_ensemble`'s); the version
    recorded (None, and no file, when the file records none)."""
    if version is None:
        return None
    record = {
        "model_version": version,
        "model_uri": _shareable_uri(model_uri),
        "onnx_file": Path(onnx_file).name,  # not the importer's local path
        "weights": weights_digest(ensemble),
    }
    write_json_atomic(Path(directory) / SOURCE_JSON, record, sealed=True)
    return version


def _shareable_uri(uri: str | None) -> str | None:
    """`uri` when it names a registry entry or remote store; None for a local path (the
    exporter's own directory, which the shared model directory should not carry)."""
    if not uri or uri.startswith("file:") or ("://" not in uri and not uri.startswith("models:/")):
        return None
    return uri


def recorded_version(directory: Path | None, ensemble: Any) -> str | None:
    """The version `import-onnx` recorded for these weights in `directory`; None when there
    is no record or it describes other weights. A damaged record is a ConfigError."""
    path = Path(directory) / SOURCE_JSON if directory is not None else None
    if path is None or not path.is_file():
        return None
    try:
        record = read_json(path)
        check_seal(record, path, _KEYS)
        # check_seal reads an unsealed file as a pre-seal one; this file was always sealed,
        # so a record without its seal (or its fields) was edited: "9" for "7" was exported
        missing = sorted((_KEYS | {SEAL}) - set(record))
        if missing or not all(isinstance(record[k], str) for k in ("model_version", "weights")):
            raise SerializationError(
                f"{path}: {'missing ' + str(missing) if missing else 'fields of the wrong type'}"
                f"; expected a sealed record with {sorted(_KEYS)} as import-onnx writes it"
            )
    except SerializationError as exc:
        raise ConfigError(
            f"{exc}: the model version import-onnx recorded cannot be read; give "
            "--model-version, or import the ONNX file again"
        ) from None
    if record["weights"] != weights_digest(ensemble):
        return None
    return record["model_version"]
