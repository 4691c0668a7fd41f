"""JSON Lines whose line holds more than one JSON value: refused, named, before any row is
read.

Spark's JSON reader takes the FIRST value of each line and drops what follows it without
a word: `{"transaction_id": "t6", ...}{"transaction_id": "t7", ...}` published t6, and t7
was neither in the table, nor in the quarantine, nor in the input count (the ETL's
accounting starts from the records the reader produced). Two files joined without a
line break between them (`cat a.jsonl b.jsonl`, a.jsonl not ending with one) give such a
line; so do objects written with a comma between them (`{...}, {...}`) and text after a
record (`{...} xyz`). Session 51, probe51c.

Each line is read once more as text and parsed as the content of a JSON array
(`[` line `]`, Spark's own parser and options): a line of one value is an array of one,
a blank line of none; a line of two values, or of text after one, is an array of two or
no JSON at all. Only lines that start with an object or an array count (a record the
reader makes of the first value); a comma at the end is allowed (an array written one
object per line, `[`, `{...},`, `]`: read as before). A line that is no JSON even on its
own (a record cut short) or starts with another value is the reader's: it is quarantined
as `malformed_record`, as before. One Spark job, JSON Lines input only (a `labels` feed
too: it is read by the same reader), and only in an encoding whose braces, brackets and
quotes are their ASCII bytes (fraud_app.etl.reader.ascii_compatible), which Spark's text
reader can split. The line shown is the smallest of them (file, then text), not the first.

Files read as whole documents (the reader's fallback when no line is an object: pretty-
printed JSON) are checked the same way, each file one "line": Spark's multiLine reader reads
a file's first document and drops the rest (two exports joined with `cat`). Review51c.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.etl.parsing import BLANKS

SHOWN = 160  # characters of an offending line shown in the error
# what may end a line after its record: blanks (fraud_app.etl.parsing), NUL, Ctrl-Z (DOS EOF)
TRAILING = BLANKS + "\x00\x1a"


def several_values(line: F.Column) -> F.Column:
    """True where the text `line` starts with an object or array and holds another JSON
    value, or text, after it; false for one value (a comma after it allowed: the objects
    of an array written one per line), a blank line and a line that is no JSON at all. A
    line that starts with any other value is the reader's malformed record whole; closing
    brackets alone after a record (`{...}}`) hold no record and are not looked at, nor
    are blanks (a no-break or zero-width space) or a NUL / Ctrl-Z at the line's end: the
    reader read the record before them and nothing is lost.

    The first value is parsed by `from_json` (the reader's parser and options), not
    `get_json_object`, which accepts a raw control character in a string: a record with a
    tab in a value is the reader's `malformed_record`, and it stopped the run as a line of
    two values (review51c)."""
    line = F.regexp_replace(line, "^\ufeff", "")  # a BOM, which the JSON reader skips
    line = F.rtrim(line, F.lit(TRAILING))
    body = F.regexp_replace(line, r",\s*$", "")
    values = F.from_json(F.concat(F.lit("["), body, F.lit("]")), "array<string>")
    # the first value as the reader reads it, what follows ignored: an object, or an array
    first = F.when(line.rlike(r"^\s*\{"), F.from_json(line, "map<string,string>").isNotNull())
    first = first.otherwise(F.from_json(line, "array<string>").isNotNull())
    # `values` parsed once (it was twice, in isNull and size: 18 -> 13 s on 200,000 nested
    # records, review51c); `first` only where the line is no JSON array's content
    several = F.coalesce(F.array_size(values) > 1, first)
    # only a line with a closing bracket followed by something (a flat record has none
    # but its last) is parsed
    suspect = line.rlike(r"^\s*[\[{]") & line.rlike(r"[}\]]\s*[^\s}\]]")
    return F.coalesce(F.when(suspect, several), F.lit(False))


def check_one_value_per_line(spark: SparkSession, path: str, whole: bool = False) -> None:
    """SchemaError naming the first file (and how many lines in all) whose line holds more
    than one JSON value (module docstring); nothing when every line holds one or none.
    `whole`: the files were read as whole documents (reader._read_json: no line is an
    object), each file is one "line": two pretty-printed arrays in one file (`cat a.json
    b.json`) gave the first array's records and dropped the second's (review51c)."""
    text = spark.read.text(path, wholetext=whole)  # its own argument: it overrides .option
    text = text.select("value", F.input_file_name().alias("file"))
    found = (
        text.filter(several_values(F.col("value")))
        .agg(F.count(F.lit(1)).alias("lines"), F.min(F.struct("file", "value")).alias("first"))
        .first()
    )
    if found is None or not found["lines"]:
        return
    file, line = found["first"]
    shown = line if len(line) <= SHOWN else f"{line[: SHOWN - 40]} ... {line[-35:]}"
    if whole:
        raise SchemaError(
            f"ETL input {path} (json): {found['lines']} file(s) read as whole JSON documents "
            f"hold more than one document, or text after the first (e.g. {file}: {shown!r}). "
            "Spark reads the first document of such a file and drops the rest without a "
            "word, so the records after it would be lost. Expected one JSON array of "
            "objects per file (or JSON Lines: one object per line). Put each document in a "
            "file of its own (two exports joined with `cat` give such a file)"
        )
    raise SchemaError(
        f"ETL input {path} (json): {found['lines']} line(s) hold more than one JSON value, "
        f"or text after the first (e.g. in {file}: {shown!r}). Spark reads the first value "
        "of a line and drops the rest without a word, so the records after it would be "
        "lost. Expected JSON Lines: one object (or one array of objects) per line. Put "
        "each record on a line of its own (two files joined without a line break at the "
        "end of the first give such a line)"
    )
