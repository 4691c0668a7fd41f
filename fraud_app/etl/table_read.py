"""Reading a Parquet table a step wrote: `read_table` refuses a missing, empty,
half-updated or altered table with a line naming the table and the step that rebuilds
it, and `damaged_file_error` names a damaged part file Spark meets later, at an action
(the CLI turns such a failure into that line).

It owns the table checks made before Spark reads; the file system calls are
fraud_app.etl.fs's, the markers of a killed update fraud_app.etl.partition_swap's, the
files record fraud_app.etl.manifest's.
"""

from __future__ import annotations

import re

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from fraud_app.errors import DataIntegrityError, EmptyInputError
from fraud_app.etl.footer_schema import read_parquet
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, verify
from fraud_app.etl.partition_swap import interrupted, other_hosts, unreadable_markers

_DAMAGED = re.compile(
    r"\[FAILED_READ_FILE\.(?P<code>\w+)\] Encountered error while reading file (?P<file>\S+?)\. "
    r"(?P<why>[^.\n]*)"
)
# the tables read_table opened in this process: bare path -> (what, step), so that a
# damaged file met by any later action on them is named as read_table names it
_READ: dict[str, tuple[str, str, str]] = {}  # ... -> (what, step, the path as given)


def bare_path(path: str) -> str:
    """A path without its scheme and authority slashes: file:///t/x and file:/t/x -> /t/x."""
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:/*", "/", path).rstrip("/")


def _damage(text: str, why: str) -> str:
    """What is wrong with the file, in a few words: Spark's hint, else its cause's message
    without paths (Spark 4 gives FAILED_READ_FILE.NO_HINT for a file that is not Parquet)."""
    if "ChecksumException" in text:
        return "checksum error"
    if why.strip() and not why.strip().startswith("SQLSTATE"):
        return why.strip()
    if "is not a Parquet file" in text:
        return "not a Parquet file: no Parquet footer at its end"
    cause = re.search(r"Caused by: [\w.$]+: ([^\n]+)", text)
    if cause is None:
        return "unreadable"
    return " ".join(w for w in cause[1].split() if "/" not in w)[:200] or "unreadable"


def damaged_file_error(exc: BaseException) -> DataIntegrityError | None:
    """The one-line error for a Spark failure that is a damaged Parquet file (truncated,
    changed after it was written: FAILED_READ_FILE), naming the file, the table read_table
    opened it as and the step that rebuilds it; None for any other failure. Spark meets
    such a file at the first action that reads it, after read_table returned: the CLI
    (pipelines.cli_failures) turns every such failure into this line instead of a Java trace."""
    text = str(exc)
    damaged = _DAMAGED.search(text)
    if not damaged:
        return None
    why, file = _damage(text, damaged["why"]), bare_path(damaged["file"])
    tables = [t for t in _READ if file.startswith(t + "/")]
    if not tables:
        return DataIntegrityError(
            f"the file {damaged['file']} cannot be read ({why}): it was truncated or changed "
            "after it was written. Rebuild it with the step that wrote it, or put back that "
            "file from a copy"
        )
    what, step, table = _READ[max(tables, key=len)]
    return DataIntegrityError(
        f"{what} {table}: the file {damaged['file']} cannot be read ({why}): it was "
        f"truncated or changed after it was written. Rebuild the table (`fraud-app {step}`), "
        "or put back that file from a copy"
    )


def read_table(
    spark: SparkSession, path: str, what: str, step: str, given: str | None = None,
    footers=None,
):  # fmt: skip
    """spark.read.parquet(path) (with the schema Spark would infer when the footers the
    `_files.json` check read give it: fraud_app.etl.footer_schema), or EmptyInputError naming `what` (e.g. "canonical table")
    and the `step` that writes it when the path is missing or holds no Parquet data.
    `given`: the flag the user named `path` with (then the fix is that flag, not the step).
    `footers`: the run's fraud_app.etl.manifest.FooterCache, when it reads them again."""
    fs = HadoopFs(spark)
    fix = (f"check {given} (a Parquet table as `fraud-app {step}` writes it)" if given
           else f"run `fraud-app {step}` first")  # fmt: skip
    if not fs.exists(path):
        raise EmptyInputError(f"{what} {path} does not exist; {fix}")
    _check_whole(fs, path, what, step)
    held = FooterCache() if footers is None else footers  # the footers verify reads, kept
    verify(fs, path, what, step, held)  # a part file missing, truncated or swapped: refused
    _READ[bare_path(fs.qualify(path))] = (what, step, path)
    try:  # with the schema Spark would infer, from those footers: no job reads one
        return read_parquet(spark, fs, path, held)
    except Exception as exc:  # Py4JJavaError or PySparkException: one line for a bad file
        damaged = damaged_file_error(exc)
        if damaged:  # a truncated or overwritten part file: a Java traceback, exit 1
            raise damaged from None
        if not isinstance(exc, AnalysisException) or "UNABLE_TO_INFER_SCHEMA" not in str(exc):
            raise
        raise _no_rows(fs, path, what, fix) from None


def _check_whole(fs: HadoopFs, path: str, what: str, step: str) -> None:
    """DataIntegrityError when a run that updates the table by dates was killed part-way
    or runs on another host (fraud_app.etl.partition_swap's markers)."""
    elsewhere = other_hosts(fs, path)
    if elsewhere:  # running or killed on another host: this one cannot tell which
        raise DataIntegrityError(f"{what} {path} may be half-updated: {'; '.join(elsewhere)}")
    damaged = unreadable_markers(fs, path, step)
    if damaged:  # which dates are in is unknown: read as whole before (session 40)
        raise DataIntegrityError(f"{what} {path} may be half-updated: {'; '.join(damaged)}")
    killed = interrupted(fs, path)
    if killed:  # a date short, or half a delivery: read silently before
        raise DataIntegrityError(
            f"{what} {path} is half-updated: {'; '.join(killed)}. Some dates may hold that "
            f"run's rows and others not. Run `fraud-app {step}` again (the same input): it "
            "puts back what the killed run moved and finishes the update"
        )


def _no_rows(fs: HadoopFs, path: str, what: str, fix: str) -> EmptyInputError:
    """The table exists but Spark finds no Parquet data in it: its step's report, when
    there is one, says why (e.g. every record quarantined)."""
    why = next(
        (f" (its step ran: see {path}/{name}; e.g. an ETL run that quarantined every record)"
         for name in ("_etl_report.json", "_features.json") if fs.exists(f"{path}/{name}")),
        f"; {fix}",
    )  # fmt: skip
    return EmptyInputError(f"{what} {path} holds no Parquet data (no rows){why}")
