"""Label words of two kinds in one input: 'F' beside 'N'.

The built-in label words (etl.config.BUILTIN_LABELS) come in two kinds: true/false
(t/f) and yes/no (y/n). An export writes one kind; its one-letter codes may mean
something else. An export writing F for fraud and N for normal was read as false and no:
every fraud published as 0, no quarantine, no word (session 40: 82 of 82 frauds; only
`validate`'s fraud-rate check stopped it, advising a lower label_rate_min). Letters
whose meaning is the export's may be given another label under etl.label_values
(etl.config.LETTER_LABELS); this module names an input that mixes the two kinds, which
no export means as read: one WARNING and the ETL report's `mixed_label_words`
({word as written: rows}). The rows are published as read (a merged export may mix
true/false and yes/no on purpose). Counted by aggregates of the staged rows' working
column that fraud_app.etl.stage_summary computes as the stage is written (no job of
their own; none when etl.label_values gives every built-in letter its own meaning).
"""

from __future__ import annotations

import logging

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl.config import BUILTIN_LABELS, EtlSection, fold_label
from fraud_app.etl.id_marks import TEXT

logger = logging.getLogger(__name__)

WORD = "__label_word"  # staged: the label's built-in word (folded), where it holds one
TEXT_AS_STAGED = WORD + "_written"  # staged: that label's text as written
KINDS = {"true": "true/false", "t": "true/false", "false": "true/false", "f": "true/false",
         "yes": "yes/no", "y": "yes/no", "no": "yes/no", "n": "yes/no"}  # fmt: skip


def _words(cfg: EtlSection) -> list[str]:
    """The built-in words the input's labels are read with: those etl.label_values does not
    give a meaning of its own."""
    configured = {fold_label(k) for k in cfg.label_values}
    return [w for w in KINDS if w not in configured]


def word_column(cfg: EtlSection) -> Column:
    """The label's text folded where it is a built-in word read as such, else null."""
    folded = F.lower(F.col(TEXT + "label"))
    words = _words(cfg)
    return F.when(folded.isin(*words), folded) if words else F.lit(None).cast("string")


def _mixable(cfg: EtlSection) -> bool:
    """Whether the words the labels are read with are of both kinds (else none is asked)."""
    return {KINDS[w] for w in _words(cfg)} >= set(KINDS.values())


def summary_columns(cfg: EtlSection) -> dict[str, Column]:
    """The aggregates `mixed_of` reads, over the staged rows (WORD, its text, reason;
    fraud_app.etl.stage_summary computes them as the stage is written): per built-in word
    read as such, its published-bound rows and its first text as written; none when
    etl.label_values leaves no two kinds to mix."""
    if not _mixable(cfg):
        return {}
    found: dict[str, Column] = {}
    for w in _words(cfg):
        hit = F.col("reason").isNull() & (F.col(WORD) == w)
        found[f"__word_rows_{w}"] = F.count(F.when(hit, True))
        found[f"__word_text_{w}"] = F.min(F.when(hit, F.col(TEXT_AS_STAGED)))
    return found


def mixed_of(metrics: dict, cfg: EtlSection) -> dict[str, int]:
    """{word as first written: rows} of the published-bound rows when their built-in label
    words are of both kinds, else {}, from the values of `summary_columns(cfg)`
    (`metrics`); a WARNING names them and the setting. Was a group-by of its own after the
    stage was written (session 41: the write's observation)."""
    if not _mixable(cfg):
        return {}
    rows = [(w, int(metrics[f"__word_rows_{w}"]), metrics[f"__word_text_{w}"])
            for w in _words(cfg) if metrics[f"__word_rows_{w}"]]  # fmt: skip
    if len({KINDS[w] for w, _, _ in rows}) < 2:
        return {}
    found = {written: n for _, n, written in sorted(rows, key=lambda r: -r[1])}
    read = ", ".join(
        f"{w!r} ({n} rows, read as {BUILTIN_LABELS[w.casefold()]}: {w.casefold()} of "
        f"{KINDS[w.casefold()]})"
        for w, n in found.items()
    )
    logger.warning(
        "ETL: the label column (etl.columns.label) holds words of two kinds, true/false "
        "and yes/no: %s. An export writes one kind, so some of these words likely mean "
        "something else (F = fraud, N = normal?). Give them their meaning under "
        "etl.label_values (e.g. {F: 1, N: 0}) and run etl again; if they mean what they "
        "were read as, this is expected",
        read,
    )  # fmt: skip
    return found


def staged_columns(cfg: EtlSection) -> dict[str, Column]:
    """The working columns the stage keeps for `summary_columns`."""
    word = word_column(cfg)
    return {WORD: word, TEXT_AS_STAGED: F.when(word.isNotNull(), F.col(TEXT + "label"))}
