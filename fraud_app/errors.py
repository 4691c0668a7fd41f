"""Every error fraud_app raises on purpose. Attributes are primitives so they pickle out of Spark tasks."""

from __future__ import annotations

from typing import TypeVar


class FraudAppError(Exception):
    """Base class of all fraud_app errors."""


class ConfigError(FraudAppError, ValueError):
    """The config file or a CLI flag is invalid. The message names the key and the value received."""


class ArgumentKindError(FraudAppError, TypeError):
    """A public step was given an argument of another kind than it takes (a pandas
    DataFrame for a Spark one, a config path for the loaded config, a stopped SparkSession,
    arguments in another order): the message names the call, the argument, what it takes."""


class EnvironmentSetupError(FraudAppError, RuntimeError):
    """Something the app needs on this machine is missing (Java, a writable directory, ...)."""


class SchemaError(FraudAppError, ValueError):
    """Input data lacks a required column or has one of the wrong type."""


class EmptyInputError(FraudAppError, ValueError):
    """An input path holds no rows."""


class OneClassSampleError(EmptyInputError):
    """A baselines' training sample holds one class only (fraud_app.baselines.spark)."""


class ValidationFailedError(FraudAppError):
    """An error-severity data check failed; the message names it and shows failing rows."""


class DataIntegrityError(FraudAppError, RuntimeError):
    """Row counts of a step do not add up (input != output + quarantine + duplicates): nothing is written."""


class FeatureSpecError(FraudAppError, ValueError):
    """A feature spec YAML is invalid; the message names the file and the key."""


class TrainingError(FraudAppError, RuntimeError):
    """Distributed training failed beyond its retry budget; the message names the cause."""


class TrainingDivergedError(TrainingError):
    """The loss or the weights became NaN or infinite; the message names the group and
    iteration. Never retried: the same group from the same state diverges again."""


class ModelLoadError(FraudAppError, ValueError):
    """A saved model or registry entry cannot be loaded."""


class UntrustedModelError(ModelLoadError):
    """A saved model another local user could have replaced (fraud_app.file_trust): not
    a damaged copy to download again, a directory to fix or leave."""


class OnnxConversionError(FraudAppError, ValueError):
    """A model cannot be converted to or from ONNX; the message names the node or layer."""


class UnsupportedOnnxOpError(OnnxConversionError):
    """An ONNX graph uses ops with no dlcore layer; the message lists each op and its nodes."""


class OutputPathError(FraudAppError, ValueError):
    """An output path holds something a write would destroy or cannot replace (a file where
    a directory goes, a directory of other files, a directory where a file goes)."""


class RunExistsError(FraudAppError, ValueError):
    """A run name that names a finished run: training again would replace its outputs."""


class ReportExistsError(FraudAppError, ValueError):
    """A report name (`evaluate --name`) whose report exists: writing would replace it."""


class ConcurrentRunError(FraudAppError, RuntimeError):
    """Another run holds the lock on the same output root (paths.root)."""


class TrackingError(FraudAppError, RuntimeError):
    """The MLflow tracking store or model registry cannot be reached or refused a request."""


class ScoringInputError(FraudAppError, ValueError):
    """Rows cannot be scored: wrong feature-vector length, non-finite features, or a model
    whose feature names differ from the current specs. The message says how many rows and
    which features."""


class SparkConnectUnsupportedError(FraudAppError, RuntimeError):
    """A step that needs the JVM of a classic SparkSession (RDDs, barrier tasks, Hadoop's
    FileSystem through Py4J) was given a Spark Connect session; the message names the step,
    what Spark Connect lacks and what to run instead."""


E = TypeVar("E", bound=BaseException)


def exception_chain(exc: BaseException | None) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling (`__cause__`, else
    `__context__`), each once (a cycle ends the walk)."""
    chain: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def in_chain(exc: BaseException | None, kind: type[E]) -> E | None:
    """The first exception of type `kind` in `exception_chain(exc)`, else None."""
    return next((one for one in exception_chain(exc) if isinstance(one, kind)), None)
