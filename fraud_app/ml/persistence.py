"""Saving and loading the fitted models the Spark ML way, with nothing pickled.

Layout of `model.write().save(path)` (also inside a saved PipelineModel's stages/):

    path/metadata/         Spark's DefaultParamsWriter JSON: class, uid, paramMap, defaults
    path/data/ensemble/    FraudEnsemble directory: ensemble.json + member-NN/ (JSON + .npz)

Loading reads JSON and `.npz` (allow_pickle=False) only, so it never runs code from the
files. Weights live on the driver's file system: use local or shared (NFS) paths; a
relative path is resolved as Spark resolves it, against the JVM's working directory.

Spark ML's conventions, with errors that name the path: `write().save(path)` refuses a
path that exists (`write().overwrite().save(path)` replaces it); `load(path)` of a path
that does not exist, or holds no saved stage, says so and what it expected, instead of
Spark's AnalysisException about `<path>/metadata`. The estimators (params only) follow
the same rules through `ParamsWriter` / `ParamsReader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter

from fraud_app import uris
from fraud_app.errors import ConfigError, ModelLoadError, OutputPathError
from fraud_app.etl.fs import HadoopFs
from fraud_app.ml.params import NONE_MEANS_UNSET
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.spark.connect import FILE_SYSTEM, require_classic

if TYPE_CHECKING:
    from fraud_app.ml.model import EnsembleClassificationModel

FORMAT = "fraud_app.ml/1"


def local_path(path: str, spark=None) -> Path:
    """Where the weights of `path` go. A relative path is resolved as Spark resolves the
    metadata/ beside them: against the JVM's working directory, which stays the one the
    session started in (after an os.chdir in a notebook, metadata/ went there and the
    weights under the new directory, one model in two places)."""
    local = uris.local_path(path)
    if local is None:
        raise ModelLoadError(
            f"{path}: dlcore models save weights with the local file system; "
            "use a local or shared (NFS) path, not a URI"
        )
    if spark is not None and not local.is_absolute():
        qualified = uris.local_path(HadoopFs(spark).qualify(path))
        if qualified is not None:
            local = qualified
    return local


def _exists(spark, path: str) -> bool:
    """Through Hadoop's FileSystem (local, HDFS, object stores), as Spark ML writes."""
    return HadoopFs(spark).exists(path)


def check_save_path(writer: MLWriter, path: str) -> None:
    """Before anything is written: a plain save refuses a path that exists (Spark ML's rule,
    with the way out named); overwrite() has already removed it."""
    if not writer.shouldOverwrite and _exists(writer.sparkSession, path):
        raise OutputPathError(
            f"{path} already exists; write().overwrite().save({path!r}) replaces it, or "
            "save to a new path"
        )
    local = uris.local_path(path)
    if local is None:
        return
    parent = local_path(path, writer.sparkSession).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():  # Spark's Py4JJavaError (ParentNotDirectoryException), 70 lines
        raise OutputPathError(
            f"cannot save to {path}: {parent} is a file, not a directory; save to a path "
            "whose parents are directories"
        )


def load_metadata(path: str, spark, what: str) -> dict:
    """Spark ML metadata of a saved stage; a missing path or one that holds no saved stage
    is a ModelLoadError naming the path and what was expected."""
    expected = f"a {what} saved with write().save(path) (metadata/ inside)"
    if not _exists(spark, path):
        raise ModelLoadError(f"cannot load {path}: it does not exist; expected {expected}")
    if not _exists(spark, f"{path.rstrip('/')}/metadata"):
        raise ModelLoadError(
            f"cannot load {path}: it holds no metadata/ (not a saved Spark ML stage); "
            f"expected {expected}"
        )
    try:  # one JSON line; Spark reads it as `json.loads(text)["class"]`
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        _check_fields(metadata)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        # a truncated line (JSONDecodeError), an empty metadata/ (None[0]), a JSON list or
        # an object without "class": tracebacks that named neither the path nor the cause
        raise _damaged(path, what, exc) from None
    return metadata


# What DefaultParamsWriter writes and the readers use: a key missing (or of another type)
# was a KeyError / TypeError from inside Spark's reader, naming neither path nor key.
_FIELDS = {"class": str, "uid": str, "sparkVersion": str, "paramMap": dict}


def _check_fields(metadata: dict) -> None:
    for key, kind in _FIELDS.items():
        if not isinstance(metadata.get(key), kind):
            raise KeyError(f"{key!r} must be a JSON {'object' if kind is dict else 'string'}")
    if not isinstance(metadata.get("defaultParamMap", {}), dict):
        raise KeyError("'defaultParamMap' must be a JSON object")


def _damaged(path: str, what: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load {path}: its metadata/ is not the JSON object a saved stage writes "
        f"({type(exc).__name__}: {exc}); the directory is damaged or was edited. Save "
        f"the {what} again"
    )


def set_params(instance, metadata: dict, path: str) -> None:
    """The saved uid and params on `instance`; a param the class does not have, or a value
    its param refuses (an edited file), is a ModelLoadError naming the path and the param."""
    what = type(instance).__name__
    instance._resetUid(metadata["uid"])
    for key in ("paramMap", "defaultParamMap"):
        for name, value in metadata.get(key, {}).items():
            if not instance.hasParam(name):
                raise ModelLoadError(
                    f"cannot load {path}: its metadata/ sets param {name!r}, which a {what} "
                    "does not have; the directory was edited or saved by another class"
                )
            try:  # a saved default stays a default, as in Spark's getAndSetParams
                if value is None and name not in NONE_MEANS_UNSET:
                    # _set / _setDefault store None unconverted: transform failed later
                    raise ValueError(instance._none_param(name))
                if key == "defaultParamMap":
                    instance._setDefault(**{name: value})
                elif value is None:  # weightCol=None as saved (set() converts: TypeError)
                    instance._set(**{name: value})
                else:
                    instance.set(instance.getParam(name), value)
                if name == "threshold":  # 1.5 loaded and failed in transform, no path named
                    instance.check_threshold()
            except (TypeError, ValueError, ConfigError) as exc:
                raise ModelLoadError(
                    f"cannot load {path}: its metadata/ sets param {name!r} to {value!r}, "
                    f"which a {what} refuses ({exc}); the directory was edited"
                ) from None


def require_classic_io(writer_or_reader, path: str, verb: str) -> None:
    """Saving and loading need the driver's JVM (Spark ML's overwrite, Hadoop's
    FileSystem); under Spark Connect: one error before anything is read or written."""
    require_classic(writer_or_reader.sparkSession, f"{verb} {path}", FILE_SYSTEM)


class ParamsWriter(DefaultParamsWriter):
    """An estimator's params (DefaultParamsWriter), refusing a path that exists."""

    def save(self, path: str) -> None:
        require_classic_io(self, path, "saving a fraud_app.ml estimator to")
        super().save(path)

    def saveImpl(self, path: str) -> None:
        check_save_path(self, path)
        super().saveImpl(path)


class ParamsReader(DefaultParamsReader):
    """An estimator's params; a missing path or another class is named."""

    def load(self, path: str):
        require_classic_io(self, path, f"loading a {self.cls.__name__} from")
        metadata = load_metadata(path, self.sparkSession, self.cls.__name__)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected:
            raise ModelLoadError(f"{path} holds {metadata.get('class')!r}; expected {expected!r}")
        instance = self.cls()
        set_params(instance, metadata, path)
        return instance


class EnsembleModelWriter(MLWriter):
    def __init__(self, instance: EnsembleClassificationModel) -> None:
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        require_classic_io(self, path, f"saving a {type(self.instance).__name__} to")
        self.instance.fitted_ensemble("write().save")  # before overwrite() removes the old
        super().save(path)

    def saveImpl(self, path: str) -> None:
        # a URI is refused before any write
        target = local_path(path, self.sparkSession) / "data" / "ensemble"
        check_save_path(self, path)
        extra = {"format": FORMAT, "members": len(self.instance.ensemble.members)}
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extra)
        self.instance.ensemble.save(target)


class EnsembleModelReader(MLReader):
    def __init__(self, cls: type[EnsembleClassificationModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> EnsembleClassificationModel:
        require_classic_io(self, path, f"loading a {self.cls.__name__} from")
        local_path(path)  # a URI is named before Spark reads it
        metadata = load_metadata(path, self.sparkSession, self.cls.__name__)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected or metadata.get("format") != FORMAT:
            raise ModelLoadError(
                f"{path} holds {metadata.get('class')!r} (format {metadata.get('format')!r}); "
                f"expected {expected!r} ({FORMAT!r})"
            )
        ensemble = FraudEnsemble.load(local_path(path, self.sparkSession) / "data" / "ensemble")
        if metadata.get("members") != len(ensemble.members):
            raise ModelLoadError(
                f"cannot load {path}: its metadata/ records {metadata.get('members')!r} "
                f"network(s), its data/ensemble holds {len(ensemble.members)}; the directory "
                "was edited or mixes two saves. Save the model again"
            )
        instance = self.cls(ensemble)
        set_params(instance, metadata, path)
        return instance
