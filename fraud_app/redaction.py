"""Secrets out of what fraud-app shows and records: logs, `error:` lines, MLflow params and
artifacts.

A config may hold credentials: a tracking URI with a password (`https://user:pw@host`,
`postgresql://u:pw@h/db`), a token in a URI's query (`?token=...`, an Azure SAS `sig=`,
a pre-signed S3 `X-Amz-Signature=`), a storage key in `spark.conf`
(`spark.hadoop.fs.s3a.secret.key`, `fs.azure.account.key.<account>...`). The value itself
is used as given (to connect with); what is shown or recorded is its redacted form:

- `redact_text(text)`: the user information of every URI (`user:password@` -> `***@`) and
  the value of every query parameter whose name says it is a secret (`token=***`);
- `redact_mapping(data)`: a nested dict (a config's `model_dump`) whose values under a
  secret-looking key (`SECRET_KEY`, the words of Spark's own `spark.redaction.regex` and
  the cloud stores' key names) are `***`, and whose other text is `redact_text`-ed;
- `shown_text(text)`: `redact_text`, every card number masked to its first six and last
  four digits (fraud_app.card_masking.mask_pans: a quarantine detail or a raw record quotes
  the data), and the control characters a terminal acts on (ESC, CR, BEL, ...) as escapes,
  for log and `error:` lines that may quote the data;
- `RedactingFilter`: a logging filter that applies `shown_text` to each record (message,
  arguments and traceback), which the CLI puts on its log handlers.

Owns the rule of what is a secret; does not own where the values are used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fraud_app.card_masking import mask_pans

MASK = "***"

# a key (or query parameter) whose value is a credential: Spark's default
# spark.redaction.regex (secret|password|token|access[.]key) and the cloud stores' names
# (fs.azure.account.key.<acct>, fs.gs.auth.service.account.private.key, a SAS `sig`,
# X-Amz-Credential / X-Amz-Signature, api_key, client_secret, credentials) and the
# customer-supplied encryption keys of S3A and GCS (fs.s3a.encryption.key and its old name
# fs.s3a.server-side-encryption.key, fs.gs.encryption.key: whoever has it reads the data),
# not Spark's spark.io.encryption.keySizeBits / keygen settings
SECRET_KEY = re.compile(
    r"(?i)secret|passw(?:or)?d|pwd|token|credential|signature|"
    r"(?:access|account|api|private|master|shared|sas)[._-]?key|(?:^|[._-])sig$|"
    r"encryption[._-]?key\b"
)

_USERINFO = re.compile(r"(?P<scheme>\b(?P<name>[A-Za-z][A-Za-z0-9+.-]*)://)(?P<info>[^/?#\s]*)@")
# Azure storage URIs name the container where others put the user: abfss://container@acct...
_CONTAINER_SCHEMES = frozenset({"abfs", "abfss", "wasb", "wasbs"})
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;](?P<name>[^=&?#;\s'\"]+)=)(?P<value>[^&#;\s'\"]*)")


def is_secret_key(key: object) -> bool:
    """Whether a setting or query parameter named `key` holds a credential."""
    return bool(SECRET_KEY.search(str(key)))


def _query_value(match: re.Match) -> str:
    if match.group("value") and is_secret_key(match.group("name")):
        return match.group("lead") + MASK
    return match.group(0)


def _userinfo(match: re.Match) -> str:
    if match.group("name").lower() in _CONTAINER_SCHEMES and ":" not in match.group("info"):
        return match.group(0)  # a container name, not a credential
    return match.group("scheme") + MASK + "@"


def redact_text(text: str) -> str:
    """`text` with the user information of every URI in it shown as `***@`
    (http://u:p@host:5000/x -> http://***@host:5000/x; an Azure storage URI's container,
    abfss://container@account..., is kept) and the value of each secret-named query
    parameter as `***` (?token=abc&x=1 -> ?token=***&x=1)."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(_userinfo, text)
    return _QUERY_PARAM.sub(_query_value, text) if "=" in text else text


def redact_value(key: object, value: Any) -> Any:
    """`value` as it may be shown under the setting `key`: `***` for a secret key's
    non-empty value, text redacted, anything else as it is."""
    if is_secret_key(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_mapping(data: Any, key: object = "") -> Any:
    """A copy of `data` (dicts, lists, text) fit to be shown or recorded: every value under
    a secret key is `***`, every text redacted (see the module doc)."""
    if is_secret_key(key) and data not in (None, "", [], {}):
        return MASK  # the whole value, whatever its shape
    if isinstance(data, Mapping):
        return {k: redact_mapping(v, k) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_mapping(v, key) for v in data]
    return redact_value(key, data)


def secret_settings(data: Any, key: object = "", where: str = "") -> list[str]:
    """Where (dotted keys) `data`, a config's `model_dump`, holds a value `redact_mapping`
    would hide: a file holding `data` as written holds a credential when this is not empty
    (the keys name where, never the values)."""
    if is_secret_key(key) and data not in (None, "", [], {}):
        return [where]
    if isinstance(data, Mapping):
        return [found for k, v in data.items()
                for found in secret_settings(v, k, f"{where}.{k}" if where else str(k))]  # fmt: skip
    if isinstance(data, list | tuple):
        return [found for i, v in enumerate(data)
                for found in secret_settings(v, key, f"{where}[{i}]")]  # fmt: skip
    return [where] if isinstance(data, str) and redact_text(data) != data else []


# C0 controls but tab and newline, DEL, C1 controls: a terminal acts on them (ESC starts a
# sequence that clears the screen, moves the cursor, sets the window title; CR rewrites the
# line), so a value from the data in a log or `error:` line could rewrite what is shown
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(match: re.Match) -> str:
    return f"\\x{ord(match.group(0)):02x}"


def shown_text(text: str) -> str:
    """`text` as a terminal or a log file may show it: `redact_text`, each card number
    masked (`mask_pans`: a log store is outside the data lake's PCI scope), and each
    control character a terminal acts on (ESC, CR, BEL, ...; not tab or newline) written
    as its escape (`\\x1b`)."""
    return _CONTROL.sub(_escaped, mask_pans(redact_text(text)))


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record in place (its message with the
    arguments, and its traceback) with `shown_text`: a library that logs a URL it was given
    (MLflow's REST errors quote the request URL, user information and all) is written
    redacted, and a value of the data (a quarantine example) cannot send a terminal its
    control sequences; by every handler after it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = shown_text(message)
        if shown != message:
            record.msg, record.args = shown, None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = shown_text(logging.Formatter().formatException(record.exc_info))
        return True
