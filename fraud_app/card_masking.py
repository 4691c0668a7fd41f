"""Card numbers out of what leaves the data lake: logs, `error:` lines, command summaries,
reports, dashboards and MLflow.

The transaction tables (raw files, canonical, quarantine, features, scores) live in the
PCI-scoped data lake and keep card numbers as delivered: investigators look rows up
there. What fraud-app writes beside them is read by more people (a scheduler's log
store, the MLflow server and its artifact store, dashboards mailed around), so a card
number shown there is masked the way PCI DSS allows a PAN to be displayed: at most its
first six and last four digits (`4539871234567897` -> `453987******7897`).

- `mask_card_id(value)`: a value of the card_id column as it may be shown: any run of 12
  or more digits (the column says it is a card number, Luhn-valid or not; spaces and
  dashes between digit groups allowed) as first six + `*` + last four; other text
  (a token such as `tok_91ab`) through `mask_pans`;
- `mask_pans(text)`: free text (a log line, a quarantine detail, a raw record) with every
  card number in it masked: a run of 13-19 digits (or 4-digit groups split by spaces or
  dashes) that passes the Luhn check, as payment cards do (a timestamp, an amount or a
  count of that length fails it nine times in ten; a run glued to a letter, as a column
  shift or a typo leaves one, `'4539871234567895x'`, only when it also starts as a card
  brand's numbers do: 2, 3, 4, 5 or 6, so that ids such as `T0123...` stay readable), and
  a number in scientific notation
  with 12 or more significant digits and an exponent of 11-18 (a card number an export
  or a spreadsheet read as a float: `4.53987123456789E+15`) to its first six digits; and
  the value a detail quotes as `card_id=VALUE` or `card_id 'VALUE'` (a quarantine
  reason's wording) through `mask_card_id`, Luhn-valid or not; the value quoted as
  `transaction_id '...'` / `transaction_id=...` is kept (the row's key in the lake: a
  numeric id of 13-19 digits passes the Luhn check one time in ten);
- `mask_record(data, card_columns)`: a copy of a nested dict / list (a validation
  example, a report) with the values under a card column through `mask_card_id`, those
  under `transaction_id` as they are, and every other text through `mask_pans`;
- `shown_value(card_columns)`: the same rule as a `(column, value) -> value` function
  (the dashboards' quarantine sample, whose package does not import fraud_app).

Owns the rule of what a card number looks like and how it is shown; does not own where
(callers: fraud_app.redaction for logs, the ETL and validation summaries, the feature
build's hot_keys / id_spellings, the dashboards' quarantine sample).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CARD_COLUMNS: frozenset[str] = frozenset({"card_id"})
MASK_CHAR = "*"
KEEP_FIRST, KEEP_LAST = 6, 4

# 13-19 digits not inside a longer run of digits or a word (a hex id, `T0123...`), or
# four groups of four split by one space or dash each (as printed on the card)
_PAN = re.compile(r"(?<![\w.])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4})(?![\w]|\.\d)")
# the same run of 13-19 digits glued to a letter or `_` on either side (not inside a longer
# run of digits, not a decimal's): masked only when it passes Luhn AND starts with a card
# brand's major industry identifier (2 Mastercard, 3 Amex / JCB / Diners, 4 Visa,
# 5 Mastercard, 6 Discover / UnionPay / Maestro): a hex id or `T0123...` seldom does both
_GLUED = re.compile(
    r"(?<![\d.])(?:(?<=[A-Za-z_])[2-6]\d{12,18}(?!\d|\.\d)|(?<!\w)[2-6]\d{12,18}(?=[A-Za-z_]))"
)
_SCIENTIFIC = re.compile(
    r"(?<![\w.])(?P<int>\d)\.(?P<frac>\d{11,18})(?P<exp>[eE][+]?(?:1[1-8]))(?![\w.])"
)
_DIGITS = re.compile(r"\d")
# `card_id=4539...` (a conflicting duplicate's detail), `card_id '4539...'` (a rule's)
_KEYED = re.compile(r"(?P<lead>\bcard_id(?:=|: | ')'?)(?P<value>[^\s,;')]+)")
_CARD_VALUE = re.compile(r"\d(?:[ -]?\d){11,}")
# the value a line quotes as its transaction_id (`transaction_id '...'`, `transaction_id=...`):
# the row's key in the lake, not a card number, kept as written so that it can be looked up
# there (a 16-digit numeric id passes the Luhn check one time in ten)
_TRANSACTION_KEYED = re.compile(r"\btransaction_id(?:=|: | ')'?[^\s,;')]+")
ID_COLUMNS: frozenset[str] = frozenset({"transaction_id"})


def luhn_valid(digits: str) -> bool:
    """Whether the digit string `digits` passes the Luhn (mod 10) check of card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def masked_digits(digits: str) -> str:
    """`digits` with all but the first six and last four as `*` (PCI DSS display rule);
    fewer than 12 digits: only the last four kept."""
    n = len(digits)
    if n >= KEEP_FIRST + KEEP_LAST + 2:
        return digits[:KEEP_FIRST] + MASK_CHAR * (n - KEEP_FIRST - KEEP_LAST) + digits[-KEEP_LAST:]
    return MASK_CHAR * max(n - KEEP_LAST, 0) + digits[-KEEP_LAST:]


def _pan(match: re.Match) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return masked_digits(digits) if luhn_valid(digits) else match.group(0)


def _glued(match: re.Match) -> str:
    digits = match.group(0)
    return masked_digits(digits) if luhn_valid(digits) else digits


def _scientific(match: re.Match) -> str:
    digits = match.group("int") + match.group("frac")
    shown = digits[:KEEP_FIRST] + MASK_CHAR * (len(digits) - KEEP_FIRST)
    return f"{shown[0]}.{shown[1:]}{match.group('exp')}"


def _keyed(match: re.Match) -> str:
    return match.group("lead") + str(mask_card_id(match.group("value")))


def mask_pans(text: str) -> str:
    """`text` with each card number in it masked (see the module doc); the rest as is."""
    if sum(1 for _ in _DIGITS.finditer(text)) < 12:
        return text
    if "transaction_id" not in text:
        return _masked_text(text)
    kept = [m.span() for m in _TRANSACTION_KEYED.finditer(text)]
    parts, at = [], 0
    for start, end in kept:
        parts += [_masked_text(text[at:start]), text[start:end]]
        at = end
    return "".join([*parts, _masked_text(text[at:])])


def _masked_text(text: str) -> str:
    text = _KEYED.sub(_keyed, text) if "card_id" in text else text
    return _SCIENTIFIC.sub(_scientific, _GLUED.sub(_glued, _PAN.sub(_pan, text)))


def mask_card_id(value: Any) -> Any:
    """A card_id value as it may be shown outside the data lake: digits (12 or more, also
    in groups split by spaces or dashes) masked to first six / last four, other text
    through `mask_pans`, None and non-text as they are."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return value
    text = str(value).strip()
    if _CARD_VALUE.fullmatch(text):
        return masked_digits(re.sub(r"[ -]", "", text))
    return mask_pans(str(value)) if isinstance(value, str) else value


def mask_record(data: Any, card_columns: Iterable[str] = CARD_COLUMNS, key: object = "") -> Any:
    """A copy of `data` (dicts, lists, text) fit to be shown outside the data lake: values
    under a key in `card_columns` through `mask_card_id`, every other text through
    `mask_pans`; numbers, None and booleans as they are."""
    columns = card_columns if isinstance(card_columns, frozenset) else frozenset(card_columns)
    if isinstance(data, Mapping):
        return {k: mask_record(v, columns, k) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(mask_record(v, columns, key) for v in data)
    return _shown(str(key), data, columns, ID_COLUMNS)


def shown_value(
    card_columns: Iterable[str] = CARD_COLUMNS, id_columns: Iterable[str] = ID_COLUMNS
) -> Callable[[str, Any], Any]:
    """A `(column, value) -> value` function that shows a value of a table's row outside
    the data lake: `mask_card_id` in `card_columns`, as it is in `id_columns` (the row's
    key: the quarantine names it `raw_<input column>`), `mask_pans` on any other text (a
    raw record, a detail); for the dashboards' quarantine sample."""
    columns, ids = frozenset(card_columns), frozenset(id_columns)
    return lambda column, value: _shown(column, value, columns, ids)


def _shown(column: str, value: Any, cards: frozenset[str], ids: frozenset[str]) -> Any:
    """One value under `column` as shown outside the data lake: `mask_card_id` in a card
    column, as it is in an id column (the row's key), `mask_pans` on any other text."""
    if column in cards:
        return mask_card_id(value)
    if column in ids:
        return value
    return mask_pans(value) if isinstance(value, str) else value
