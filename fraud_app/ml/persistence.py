"""Saving and loading the fitted models the Spark ML way, with nothing pickled.

Layout of `model.write().save(path)` (also inside a saved PipelineModel's stages/):

    path/metadata/         Spark's DefaultParamsWriter JSON: class, uid, paramMap, defaults
    path/data/ensemble/    FraudEnsemble directory: ensemble.json + member-NN/ (JSON + .npz)

Loading reads JSON and `.npz` (allow_pickle=False) only, so it never runs code from the
files. Weights live on the driver's file system: use local or shared (NFS) paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter

from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble

if TYPE_CHECKING:
    from fraud_app.ml.model import EnsembleClassificationModel

FORMAT = "fraud_app.ml/1"


def local_path(path: str) -> Path:
    if path.startswith("file://"):
        return Path(path[len("file://") :])
    if path.startswith("file:"):
        return Path(path[len("file:") :])
    if "://" in path:
        raise ModelLoadError(
            f"{path}: dlcore models save weights with the local file system; "
            "use a local or shared (NFS) path, not a URI"
        )
    return Path(path)


class EnsembleModelWriter(MLWriter):
    def __init__(self, instance: EnsembleClassificationModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        extra = {"format": FORMAT, "members": len(self.instance.ensemble.members)}
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extra)
        self.instance.ensemble.save(local_path(path) / "data" / "ensemble")


class EnsembleModelReader(MLReader):
    def __init__(self, cls: type[EnsembleClassificationModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> EnsembleClassificationModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata.get("class") != expected or metadata.get("format") != FORMAT:
            raise ModelLoadError(
                f"{path} holds {metadata.get('class')!r} (format {metadata.get('format')!r}); "
                f"expected {expected!r} ({FORMAT!r})"
            )
        ensemble = FraudEnsemble.load(local_path(path) / "data" / "ensemble")
        instance = self.cls(ensemble)
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        return instance
