"""`pyspark.sql.functions` (F.*) without a JVM lookup per call (classic sessions).

Each F.* call of a classic session looks its Scala function up before calling it:
`getattr(getattr(sc._jvm, "org.apache.spark.sql.functions"), name)`, two py4j reflection
round trips (the class, then the method) before the one that calls it. Building the
ETL's rule columns makes ~1,400 such calls a run (docs/PROBES.md, session 47: 1.8 s of
a 17 s replace run on a tiny delivery; the feature compiler's 130 features ~2,000).
`install` memoises the lookup: the method found is a py4j handle of a static method of
`org.apache.spark.sql.functions`, which stays valid while the JVM gateway does; a new
gateway (a session started in another JVM) empties the memo. The call itself is
unchanged, so the Columns built, and every result, are the same.

Owns only this memo; a pyspark without the private `_get_jvm_function` it wraps keeps
its own lookup (nothing is patched).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_FUNCTIONS = "org.apache.spark.sql.functions"
_lock = threading.Lock()
_memo: dict[str, Any] = {}
_client: list[Any] = [None]  # the gateway client the memo's handles belong to
_original: list[Callable | None] = [None]


def install() -> bool:
    """Memoise F.*'s JVM function lookup (idempotent); False where pyspark lacks the
    lookup this wraps (another pyspark version: its own lookup is kept)."""
    try:
        from pyspark.sql.functions import builtin
    except ImportError:  # pragma: no cover - pyspark without the builtin module
        return False
    current = getattr(builtin, "_get_jvm_function", None)
    if current is None:
        return False
    if getattr(current, "_fraud_app_memo", False):
        return True
    with _lock:
        current = builtin._get_jvm_function
        if not getattr(current, "_fraud_app_memo", False):
            _original[0] = current
            builtin._get_jvm_function = _memoised
    return True


def uninstall() -> None:
    """Put pyspark's own lookup back (the tests compare both)."""
    from pyspark.sql.functions import builtin

    with _lock:
        if _original[0] is not None:
            builtin._get_jvm_function = _original[0]
            _original[0] = None
        _memo.clear()
        _client[0] = None


def _memoised(name: str, sc) -> Callable:
    jvm = sc._jvm
    client = getattr(jvm, "_gateway_client", None)
    if client is None:  # not a py4j view this memo knows: pyspark's own lookup
        return getattr(getattr(jvm, _FUNCTIONS), name)
    found = _memo.get(name) if _client[0] is client else None
    if found is None:
        found = getattr(getattr(jvm, _FUNCTIONS), name)
        with _lock:
            if _client[0] is not client:  # another gateway: the old handles are stale
                _memo.clear()
                _client[0] = client
            _memo[name] = found
    return found


_memoised._fraud_app_memo = True  # type: ignore[attr-defined]
