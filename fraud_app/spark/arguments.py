"""What a notebook passes to the public steps (generate, ETL, validate, features, train,
score, evaluate), checked before any work: the kind of each argument, a session that is
still running. Without it a pandas DataFrame, a config path or a stopped session met the
step's first attribute access (`'DataFrame' object has no attribute 'schema'`, `'NoneType'
object has no attribute 'hadoopConfiguration'`, a bare AssertionError), or a misleading
schema error ("it looks like the feature table" for a pandas DataFrame).

This module owns the checks and their messages, not what a step does with the values."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from fraud_app.errors import ArgumentKindError
from fraud_app.spark.connect import is_connect

RESTART = (
    "get a running one with fraud_app.spark.session.get_spark(...) (or the notebook's "
    "SparkSession.builder...getOrCreate()) and pass that"
)


_SHOWN = 400  # characters of a text argument a message shows


def kind_of(value: Any) -> str:
    """`value`'s type as a reader knows it: `pandas.core.frame.DataFrame`, `str 'x.yaml'`."""
    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}".removeprefix("builtins.")
    if isinstance(value, str | PurePath):
        text = str(value)  # a path in full (a notebook's are long), a long text cut
        return f"{name} {text if len(text) <= _SHOWN else text[: _SHOWN - 3] + '...'!r}"
    return name


def _stopped(session) -> bool:
    return getattr(session.sparkContext, "_jsc", None) is None


def require_session(spark: Any, call: str) -> None:
    """ArgumentKindError unless `spark` is a running SparkSession (classic or Connect)."""
    from pyspark.sql import SparkSession

    if is_connect(spark):
        return
    if not isinstance(spark, SparkSession):
        order = (
            " (the arguments in another order? the session comes first)"
            if _is_config(spark) or _is_dataframe(spark)
            else ""
        )
        raise ArgumentKindError(
            f"{call}: `spark` must be a SparkSession; received {kind_of(spark)}{order}"
        )
    if _stopped(spark):
        raise ArgumentKindError(f"{call}: the SparkSession passed was stopped; {RESTART}")


def require_dataframe(df: Any, call: str, name: str = "df") -> None:
    """ArgumentKindError unless `df` is a Spark DataFrame of a running session."""
    from pyspark.sql import DataFrame

    if is_connect(df):
        return
    if not isinstance(df, DataFrame):
        hint = _conversion(type(df).__module__)
        raise ArgumentKindError(
            f"{call}: `{name}` must be a Spark DataFrame; received {kind_of(df)}{hint}"
        )
    if _stopped(df.sparkSession):
        raise ArgumentKindError(
            f"{call}: `{name}` belongs to a SparkSession that was stopped; read it again in "
            f"a running session ({RESTART})"
        )


def _conversion(module: str) -> str:
    """How to turn a frame of `module` into a Spark DataFrame ("" for another kind)."""
    if module.startswith("pyspark.pandas."):  # the pandas API on Spark holds one already
        return ": take its Spark DataFrame with df.to_spark()"
    if module.split(".")[0] == "polars":  # not one createDataFrame takes (pyspark 4.3)
        return ": convert it with spark.createDataFrame(df.to_arrow())"
    if module.split(".")[0] in ("pandas", "pyarrow"):
        return ": convert it with spark.createDataFrame(df) (or read the table with spark.read)"
    return ""


def require_config(config: Any, call: str, name: str = "config") -> None:
    """ArgumentKindError unless `config` is a loaded AppConfig (a path is not)."""
    from fraud_app.config import AppConfig

    if is_a(config, AppConfig):
        return
    hint = (
        ": load it first, config = fraud_app.config.load_config(path)"
        if isinstance(config, str | PurePath)
        else ""
    )
    raise ArgumentKindError(
        f"{call}: `{name}` must be an AppConfig (fraud_app.config.load_config); received "
        f"{kind_of(config)}{hint}"
    )


def require_section(value: Any, cls: type, call: str, name: str, path: str) -> None:
    """ArgumentKindError unless `value` is the config section `cls` (`config.<path>`)."""
    if is_a(value, cls):
        return
    hint = f": pass config.{path}" if _is_config(value) else ""
    raise ArgumentKindError(
        f"{call}: `{name}` must be the config's {path} section ({cls.__name__}, "
        f"config.{path}); received {kind_of(value)}{hint}"
    )


def is_a(value: Any, cls: type) -> bool:
    """isinstance, also true for an object of `cls` as an earlier import of its module
    defined it: a notebook's `importlib.reload` or `%autoreload` makes a new class, and
    the config loaded before it (which the steps read as ever) was refused as
    "must be an AppConfig ...; received fraud_app.config.AppConfig"."""
    return isinstance(value, cls) or any(
        c.__module__ == cls.__module__ and c.__qualname__ == cls.__qualname__
        for c in type(value).__mro__
    )


def _is_config(value: Any) -> bool:
    return type(value).__name__ == "AppConfig"


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame"
