"""The country columns (country, card_country) published in one ISO 3166-1 form, alpha-2.

Payment data spell a country as alpha-2 (`US`), alpha-3 (`USA`) or numeric (`840`), and
an acquirer's field and an issuer's often use different forms. Published as delivered,
a merchant country `US` beside a card country `840` made `is_cross_border` 1 on every
row, and one country was two or three categories to the frequency / target encodings
and to a one_hot `values:` list (session 54, probe54a: silently). So the ETL reads every
known code, in any form and case, as its alpha-2 code (fraud_app.etl.iso3166; the form
of the generator's data), after the code reading of session 53 (`36` is `036` is `AU`).
A code the table does not hold (`XK`, `EU`, a name such as `Germany`) is kept as it is
(one of two or three letters in upper case, as the known ones: `xk` is `XK`, review54a),
counted in the ETL report and named in a WARNING: it is one value of its own to the
features, and the cross-border flag compares it with the other column as written.

Owns the reading's Spark column, the staged flags and aggregates that count it (observed
as the stage is written, fraud_app.etl.stage_summary), and their report entry and
WARNING. The published spelling of one value in Python: schema.code_spelling.
"""

from __future__ import annotations

import logging
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl.iso3166 import ALPHA2, ALPHA2_CODES, LETTER_CODE
from fraud_app.schema import COUNTRY_COLUMNS

logger = logging.getLogger(__name__)

BEFORE = "__k_"  # working column: a country code as read before this reading (parse_columns)
_CONVERTED = "__country_converted_"  # staged flag: the published code is not the one read


def _sql_text(codes) -> str:
    """The codes as SQL string literals, `'AD', 'AE', ...` (every one letters and digits:
    nothing to quote, checked; none: an error, as `map()` would match nothing)."""
    codes = list(codes)
    if not codes or not all(_SAFE.fullmatch(code) for code in codes):
        raise ValueError("fraud_app.etl.iso3166 holds no codes, or one not letters and digits")
    return ", ".join(f"'{code}'" for code in codes)


_SAFE = re.compile(r"[A-Z0-9]{2,3}")
# The table and the alpha-2 list as SQL text, one JVM round trip each where a Column built
# literal by literal was one per code: 1,494 for the map's 747 pairs and 249 for the list,
# per country column, ~3,500 an ETL run or labels feed (lead, session 54: probe54a's
# reading had cost more than ci54b's cuts saved). Same analysed expressions (CreateMap, In).
_TABLE_SQL = f"map({_sql_text(x for pair in sorted(ALPHA2.items()) for x in pair)})"
_ALPHA2_SQL = _sql_text(sorted(ALPHA2_CODES))


def alpha2(code: Column) -> Column:
    """`code` (a code column's text, fraud_app.etl.parsing.code_text) as its alpha-2 code
    when ISO 3166-1 knows it in any form or case; an unknown code of two or three ASCII
    letters in upper case (`xk` is `XK`, as `us` is `US`: review54a found `XK` beside `xk`
    two countries, the row cross-border); else as it is (`Germany`, `999`)."""
    table = F.expr(_TABLE_SQL)
    upper = F.upper(code)
    letters = F.when(code.rlike(LETTER_CODE), upper).otherwise(code)
    return F.coalesce(F.try_element_at(table, upper), letters)


def staged_columns(parsed: str) -> dict[str, Column]:
    """{flag: whether the row's published country code differs from the code read}, per
    country column; `parsed`: the prefix of the parsed columns (fraud_app.etl.columns)."""
    return {_CONVERTED + c: F.col(parsed + c) != F.col(BEFORE + c) for c in COUNTRY_COLUMNS}


def summary_columns() -> dict[str, Column]:
    """Over the published-bound rows (no reason), per country column: the codes converted
    to alpha-2, the unknown codes kept, and the least and greatest unknown one."""
    ok = F.col("reason").isNull()
    columns: dict[str, Column] = {}
    for c in COUNTRY_COLUMNS:
        unknown = ok & F.col(c).isNotNull() & ~F.expr(f"`{c}` IN ({_ALPHA2_SQL})")
        columns[f"__cc_converted_{c}"] = F.count(F.when(ok & F.col(_CONVERTED + c), True))
        columns[f"__cc_unknown_{c}"] = F.count(F.when(unknown, True))
        columns[f"__cc_first_{c}"] = F.min(F.when(unknown, F.col(c)))
        columns[f"__cc_last_{c}"] = F.max(F.when(unknown, F.col(c)))
    return columns


def counts_of(metrics: dict, source_for=str, before: object = None) -> dict[str, dict]:
    """The report's `country_codes` from the values of `summary_columns` ({column:
    {converted, unknown, examples}} for each column with a code converted or unknown),
    with one WARNING naming the unknown codes. `source_for`: the export's column name.
    `before`: the `country_codes` of the table's last report on an append: unknown codes
    it named already are not named again (the same WARNING on every daily delivery of an
    export that writes `XK` is noise that hides new ones, as review53b found of the
    clock's)."""
    told = before if isinstance(before, dict) else {}
    found: dict[str, dict] = {}
    for c in COUNTRY_COLUMNS:
        converted = int(metrics.get(f"__cc_converted_{c}") or 0)
        unknown = int(metrics.get(f"__cc_unknown_{c}") or 0)
        if not converted and not unknown:
            continue
        examples = sorted({metrics[f"__cc_{e}_{c}"] for e in ("first", "last")} - {None})
        found[c] = {"converted": converted, "unknown": unknown, "unknown_examples": examples}
    said = [
        f"{c} (export column {source_for(c)!r}): {v['unknown']} row(s), e.g. "
        + " .. ".join(repr(e) for e in v["unknown_examples"])
        for c, v in found.items()
        if v["unknown"] and not _named(v["unknown_examples"], told.get(c))
    ]
    if said:
        logger.warning(
            "ETL: country codes that are no ISO 3166-1 code (alpha-2, alpha-3 or numeric) "
            "were published as delivered: %s. The other codes are published as alpha-2 "
            "(US, USA and 840 are US), so such a value is a country of its own to the "
            "encodings and is_cross_border compares it as written. If they are countries, "
            "deliver their ISO codes (country_codes in the ETL report counts them)",
            "; ".join(said),
        )
    return found


def _named(examples: list, before: object) -> bool:
    """Whether the last report named every one of these unknown codes already."""
    named = before.get("unknown_examples") if isinstance(before, dict) else None
    return isinstance(named, list) and set(examples) <= set(named)
