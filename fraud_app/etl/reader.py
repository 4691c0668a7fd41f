"""Read the user's raw files as close to their original text as possible.

CSV is read with every column as a string (no inference) and JSON with
`primitivesAsString`, so a bad value reaches the quarantine exactly as written.
Records the parser cannot split land in `_corrupt_record`. Parquet keeps its types.

CSV files are read by their OWN header names, never by position: files are grouped
by header, each group is read with its header as the schema (Spark re-checks every
file's header against it, `enforceSchema=false`) and the groups are united by name.
A file whose column names differ from the first file's is refused (SchemaError
naming the file). Quoting follows RFC 4180 (`"` doubles as its own escape).
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import reduce

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import NumericType, StringType, StructField, StructType

from fraud_app.errors import ConfigError, EmptyInputError, SchemaError
from fraud_app.etl.config import EtlSection, OffsetFormat
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.json_lines import check_one_value_per_line

logger = logging.getLogger(__name__)

CORRUPT_COLUMN = "_corrupt_record"
HEADER_THREADS = 4  # concurrent header-reading jobs (see csv_headers)
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


def format_of(name: str) -> str | None:
    """The format a file name's extension says (a compression suffix aside), else None."""
    base = name.lower()
    for compressed in (".gz", ".bz2", ".snappy", ".zst", ".lz4"):
        base = base.removesuffix(compressed)
    return next((fmt for ext, fmt in _EXTENSIONS.items() if base.endswith(ext)), None)


def detect_format(fs: HadoopFs, path: str, configured: str | None) -> str:
    """The configured format, else the one extension shared by the files under `path`.
    SchemaError when some files have a data extension and others none (see _strays)."""
    is_dir = fs.is_dir(path)
    files = fs.list_paths(path) if is_dir else [path]
    names = [f.rsplit("/", 1)[-1] for f in files]
    if not names:  # also with etl.format set (it said "the files are empty": there were none)
        raise EmptyInputError(
            f"ETL input {path} holds no data files (the folder is empty). Expected the "
            "delivery's CSV, Parquet or JSON files there (.csv, .tsv, .parquet, .json, ...); "
            "or set etl.input / paths.raw to the folder that holds them"
        )
    if is_dir:
        _strays(fs.qualify(path), files, names)
    if configured:
        return configured
    found = {fmt for fmt in map(format_of, names) if fmt is not None}
    if len(found) == 1:
        return found.pop()
    raise ConfigError(
        f"etl.format: cannot tell the format of {path} from its file names "
        f"(found formats {sorted(found) or 'none'} in e.g. {sorted(names)[:3]}). "
        "Set etl.format to csv, parquet or json."
    )


def _strays(folder: str, files: list[str], names: list[str]) -> None:
    """Every file under a folder is read in its format, whatever its name: a backup copy
    beside the delivery (`d.csv.bak`, `d.csv~`), an upload in progress (`e.csv.part`) or
    a note (`README.md`) was read as data, without a word (a backup's stale values
    competed with the delivery's as conflicting duplicates; a note's lines were records).
    When some files have a data extension, the others are refused, named."""
    strays = [f for f, n in zip(files, names, strict=True) if format_of(n) is None]
    if not strays or len(strays) == len(files):
        return
    shown = ", ".join(f.removeprefix(folder.rstrip("/") + "/") for f in strays[:5])
    more = f" and {len(strays) - 5} more" if len(strays) > 5 else ""
    raise SchemaError(
        f"ETL input {folder} holds {len(strays)} file(s) without a data extension beside "
        f"its data files: {shown}{more}. Every file under the folder is read as data, so a "
        "backup copy (.bak, ~), an upload in progress (.part, .tmp) or a note would be read "
        "as transactions. Move them out of the folder, or name data files with their "
        "format's extension (.csv, .tsv, .json, .jsonl, .parquet, optionally .gz)"
    )


def missing_input(path: str) -> EmptyInputError:
    return EmptyInputError(
        f"ETL input {path} does not exist. Generate data first (`fraud-app generate`) "
        "or set etl.input / paths.raw to where your files are."
    )


def check_local_input(path: str) -> None:
    """`missing_input` for a local input path that is not there, before the JVM starts
    (walk55: a typo in --input waited for the Spark session, tens of seconds, to be told).
    A remote path or a Hadoop glob (`raw/*.csv`) is left to read_input."""
    from fraud_app.uris import local_path

    local = local_path(path)
    if local is None or any(ch in path for ch in "*?[{"):
        return
    if not local.exists():
        raise missing_input(path)


def read_input(spark: SparkSession, path: str, cfg: EtlSection) -> tuple[DataFrame, str]:
    """(raw DataFrame, format). Raises EmptyInputError when `path` is missing or empty."""
    fs = HadoopFs(spark)
    if not fs.exists(path):
        raise missing_input(path)
    fmt = detect_format(fs, path, cfg.format)
    cfg = _tsv_delimiter(fs, path, cfg) if fmt == "csv" else cfg
    try:
        df = _READERS[fmt](spark, path, cfg)
    except AnalysisException as exc:
        if "UNABLE_TO_INFER_SCHEMA" in str(exc) or "empty" in str(exc).lower():
            raise EmptyInputError(f"ETL input {path} ({fmt}) holds no rows: {exc}") from exc
        if "COLUMN_ALREADY_EXISTS" in str(exc):  # JSON keys `amount` and `Amount`
            raise SchemaError(
                f"ETL input {path} ({fmt}) has two columns whose names differ only in case "
                f"({str(exc).splitlines()[0]}); Spark compares column names without case, so "
                "it cannot tell them apart. Expected each name once: rename or drop one"
            ) from exc
        raise
    # the input's own columns: Spark's `_corrupt_record`, which the reader adds, is no column
    # of the export (walk55: the INFO line named it beside the export's)
    own = [c for c in df.columns if c != CORRUPT_COLUMN]
    if not own:
        raise EmptyInputError(f"ETL input {path} ({fmt}) has no columns and no rows")
    logger.info("reading %s input %s with columns %s", fmt, path, own)
    return df, fmt


def _tsv_delimiter(fs: HadoopFs, path: str, cfg: EtlSection) -> EtlSection:
    """Files that are all `.tsv` are read with a tab when etl.csv_delimiter is not set (the
    header was read as one column and the run stopped asking for the setting)."""
    if "csv_delimiter" in cfg.model_fields_set:
        return cfg
    names = fs.list_files(path) if fs.is_dir(path) else [path.rsplit("/", 1)[-1]]
    bases = [n.lower().removesuffix(".gz").removesuffix(".bz2") for n in names]
    if bases and all(b.endswith(".tsv") for b in bases):
        logger.info("ETL input %s: .tsv files, read with a tab delimiter", path)
        return cfg.model_copy(update={"csv_delimiter": "\t"})
    return cfg


def columns_problem(missing: list[str], extra: list[str]) -> str:
    """How one input file's column names differ from the first file's, for the error."""
    if missing and extra:
        return f"lacks column(s) {missing} and has unexpected {extra}"
    return f"lacks column(s) {missing}" if missing else f"has unexpected column(s) {extra}"


def quoted(name: str) -> str:
    """`name` as a Spark column reference: backticks, a backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


def _unreadable(header: tuple[str, ...]) -> bool:
    """A header with control characters (NUL, ESC, ...; a tab is fine): binary data such as
    a compressed or spreadsheet file read as text, not a CSV header line."""
    return any(unicodedata.category(ch) == "Cc" and ch != "\t" for name in header for ch in name)


def _csv_reader(spark: SparkSession, cfg: EtlSection):
    return spark.read.options(
        header=True,
        sep=cfg.csv_delimiter,
        encoding=cfg.encoding,
        multiLine=cfg.csv_multiline,
        quote='"',
        escape='"',  # RFC 4180: a quote inside a quoted field is written twice
        inferSchema=False,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT_COLUMN,
    )


def csv_headers(
    spark: SparkSession, path: str, cfg: EtlSection
) -> dict[tuple[str, ...], list[str]]:
    """header (column names in file order) -> the files under `path` that have it.
    Files without a header line (empty files) hold no rows and are left out.

    Spark's CSV reader parses the headers (quotes, encoding, a BOM, blank and repeated
    names as it names them), but once per distinct header LINE, not once per file: each
    file's first line is read as bytes on the driver (`HadoopFs.head_bytes`, no Spark
    job), files whose first lines are the same bytes share one Spark read of one of them.
    A delivery of 2,923 five-row files was 2,923 header jobs (~11 min on a loaded local[2], session
    30, probe30a); it is now one. A file whose first line cannot be told from its first
    HEAD_BYTES (a longer line, a quoted field running past a line break, an unreadable
    archive) is read by Spark on its own, as every file was before."""
    fs = HadoopFs(spark)
    files = fs.list_paths(path)
    keyed = ascii_compatible(cfg.encoding)

    def key(file: str) -> bytes | None:
        return header_line(fs.head_bytes(file, HEAD_BYTES)) if keyed else None

    def header(file: str) -> tuple[str, ...]:
        return tuple(_csv_reader(spark, cfg).csv(file).columns)

    threads = max(1, min(HEADER_THREADS, len(files)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        keys = list(pool.map(key, files))
    first_of: dict[bytes, str] = {}
    for file, k in zip(files, keys, strict=True):
        if k is not None:
            first_of.setdefault(k, file)
    # Spark reads one file per distinct first line, and every file it cannot key
    read = [*first_of.values(), *(f for f, k in zip(files, keys, strict=True) if k is None)]
    with ThreadPoolExecutor(max_workers=max(1, min(HEADER_THREADS, len(read)))) as pool:
        parsed = dict(zip(read, pool.map(header, read), strict=True))
    groups: dict[tuple[str, ...], list[str]] = {}
    for file, k in zip(files, keys, strict=True):  # in file order
        names = parsed[file if k is None else first_of[k]]
        if names:
            groups.setdefault(names, []).append(file)
    return groups


def ascii_compatible(encoding: str) -> bool:
    """Whether a line break and a quote are their ASCII bytes in `encoding`, and no other
    character's bytes hold them (UTF-8, Latin-1, windows-1252, Shift_JIS: yes; UTF-16 and
    the stateful ISO-2022 / UTF-7: no, and an encoding Python does not know: no). Only then
    can a header line be found in the raw bytes; else every file is read by Spark."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if any(s in name for s in ("iso2022", "utf-7", "utf_7", "hz")):
        return False
    try:
        return '\n",a'.encode(name) == b'\n",a'
    except UnicodeError:
        return False


HEAD_BYTES = 65_536  # the first line of a CSV file must end within these to be keyed


def header_line(head: bytes | None) -> bytes | None:
    """The bytes of the first line of `head` with its line break (the key files share a
    header read by); None when it cannot stand for the header: no line break within
    `head` (unless `head` is the whole, short file), or a quote character left open at the
    break (a quoted header field holding a line break: the header runs on)."""
    if head is None:
        return None
    end = head.find(b"\n")
    if end < 0:
        return head if len(head) < HEAD_BYTES else None  # a one-line file, or too long
    line = head[: end + 1]
    return None if line.count(b'"') % 2 else line


def _blank_names(header: tuple[str, ...]) -> list[str]:
    """The names Spark gave empty header cells (`_c<position>`)."""
    return [c for i, c in enumerate(header) if c == f"_c{i}"]


def _repeated(header: tuple[str, ...]) -> list[str]:
    """Names a header repeats. Spark renames each copy of a repeated name to name + index
    (`amount4`, `amount5`), so repeats are found from those suffixes. Names that differ
    only in case (`amount`, `Amount`) are repeats too: Spark compares names without case
    (its renamed copies made the run say the file lacked `amount`)."""
    bases = [c[: -len(str(i))] if c.endswith(str(i)) else None for i, c in enumerate(header)]
    folded = [b.casefold() if b else None for b in bases]
    return sorted({b for b, f in zip(bases, folded, strict=True) if f and folded.count(f) > 1})


def _folded(names: list[str]) -> set[str]:
    return {n.casefold() for n in names}


def _check_headers(
    groups: dict[tuple[str, ...], list[str]], path: str, cfg: EtlSection
) -> tuple[str, ...]:
    """The first file's header; SchemaError naming the first file that does not match it."""
    for header, files in groups.items():
        if _unreadable(header):
            raise SchemaError(
                f"ETL input file {files[0]}: its first line is not a CSV header (it holds "
                "control characters, as binary files such as .gz, .xlsx or Parquet do). "
                "Expected a text header line of column names; decompress or move that "
                f"file, or set etl.format (reading as csv, encoding {cfg.encoding})"
            )
    first = min(groups, key=lambda h: groups[h][0])
    for header, files in groups.items():
        if dups := _repeated(header):  # a problem of the file itself, whatever the others hold
            raise SchemaError(
                f"ETL input file {files[0]}: its header repeats column(s) {dups} (names are "
                "compared without case; Spark reads the copies as "
                f"{[c for c in header if c.rstrip('0123456789').casefold() in _folded(dups)]}). "
                "Expected each column name once: fix the export's header (which copy holds "
                "the values?) or move that file."
            )
    for header, files in groups.items():
        missing, extra = sorted(set(first) - set(header)), sorted(set(header) - set(first))
        if missing or extra:
            problem = columns_problem(missing, extra)
            blank = sorted(set(_blank_names(header)) ^ set(_blank_names(first)))
            if blank:
                problem += (f" ({', '.join(blank)}: a column without a name, e.g. a delimiter "
                            "at the end of the header line)")  # fmt: skip
            raise SchemaError(
                f"ETL input file {files[0]}: its header {problem} compared with "
                f"{groups[first][0]} (columns {list(first)}). Every CSV file under {path} "
                "must have the same column names, in any order; fix or move that file."
            )
    return first


def _read_csv(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    groups = csv_headers(spark, path, cfg)
    if not groups:
        raise EmptyInputError(
            f"ETL input {path} (csv) has no header line in any file: the files are empty. "
            "Expected CSV files whose first line names the columns (etl.columns maps them), "
            "then one line per transaction"
        )
    columns = [*_check_headers(groups, path, cfg), CORRUPT_COLUMN]
    frames = []
    for header, files in groups.items():
        # explicit all-string schema + a corrupt-record column keeps malformed lines visible
        schema = StructType([StructField(c, StringType()) for c in (*header, CORRUPT_COLUMN)])
        # an empty header cell (a delimiter at the end of every line, as some exports write)
        # is named `_c<i>` by Spark, whose header check then compared '' with that name and
        # failed the job (a FAILED_READ_FILE traceback): such a group is read by position,
        # which is its own header's order
        check = not _blank_names(header)
        df = _csv_reader(spark, cfg).schema(schema).option("enforceSchema", not check).csv(files)
        frames.append(df.select(*[quoted(c) for c in columns]))
    return reduce(DataFrame.unionByName, frames)


def _read_json(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    """JSON Lines (one object per line; an array of objects on one line is read too). When
    no line is an object, the files are read as whole JSON documents: a pretty-printed
    array of objects (what many APIs and `json.dump(..., indent=2)` write) was refused as
    "no columns and no rows"."""

    def reader(multiline: bool, strings: bool = True, schema: StructType | None = None):
        read = (
            spark.read.option("primitivesAsString", strings)
            .option("encoding", cfg.encoding)
            .option("mode", "PERMISSIVE")
            .option("multiLine", multiline)
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        )
        return (read.schema(schema) if schema is not None else read).json(path)

    def numbers_typed(df: DataFrame, multiline: bool) -> DataFrame:
        """Under etl.decimal_separator ',', the amount and offset columns whose every value
        is a JSON number read as numbers: their text is Java's ('1.234', always a '.'),
        which the comma reading took for 1234 or refused (session 53). One more pass over
        the input (Spark's schema inference), only then."""
        wanted = _comma_read_columns(cfg) & set(df.columns)
        if not wanted:
            return df
        inferred = {f.name: f.dataType for f in reader(multiline, strings=False).schema.fields}
        typed = {c: inferred[c] for c in wanted if isinstance(inferred.get(c), NumericType)}
        if not typed:
            return df
        return reader(multiline, schema=StructType([
            StructField(f.name, typed.get(f.name, f.dataType), True) for f in df.schema.fields
        ]))  # fmt: skip

    df = reader(False)
    if df.columns != [CORRUPT_COLUMN]:
        if ascii_compatible(cfg.encoding):  # Spark read a line's first value only
            check_one_value_per_line(spark, path)
        return numbers_typed(df, False)
    whole = reader(True)
    if whole.columns == [CORRUPT_COLUMN]:
        raise SchemaError(
            f"ETL input {path} (json): no record is a JSON object, read line by line or as a "
            "whole file. Expected JSON Lines (one object per line, e.g. "
            '{"transaction_id": "t1", "amount": 12.5, ...}) or a JSON array of such objects; '
            "check that the files are JSON (etl.format, etl.encoding)"
        )
    if ascii_compatible(cfg.encoding):  # Spark read a file's first document only
        check_one_value_per_line(spark, path, whole=True)
    logger.info("ETL input %s: no line is a JSON object; read each file as one document", path)
    return numbers_typed(whole, True)


def _comma_read_columns(cfg: EtlSection) -> set[str]:
    """The input columns read as numbers with etl.decimal_separator ',': the amount and the
    times read as offsets (none under '.')."""
    if cfg.decimal_separator != ",":
        return set()
    offsets = {cfg.source_for(c) for c in ("timestamp", "label_time")
               if isinstance(cfg.time_format(c)[0], OffsetFormat)}  # fmt: skip
    return {cfg.source_for("amount"), *offsets}


def _read_parquet(spark: SparkSession, path: str, cfg: EtlSection) -> DataFrame:
    from fraud_app.etl.parquet_reader import read_parquet  # it imports `quoted` from here

    return read_parquet(spark, path)


_READERS = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet}
