"""Columns built once per annotation of a delivery, and reused.

The rules' details quote the same values again and again (`<c> '<raw value>'` in every
rule of c, an id's float and fraction tests in two rules and their details, an id's
null-marker test in its marks and in its missing detail): each Column is a handful of JVM
round trips (a `lit`, a `col`, the function, a list of literals one by one), ~4,400 in a
first load, about a tenth of them such rebuilt Columns (docs/PROBES.md, sessions 53-54).
Inside `shared_columns()` a builder decorated with `shared` builds its Column once per
arguments and hands the same Column back after; a Column is an immutable expression, so
the plan is the one the rebuilt Columns gave. Outside a scope nothing is kept: a Column
belongs to its session's JVM, and a memo that outlived the annotation would hand a later
session (tests stop and start them) a Column of a stopped one.

Owns the scope and the decorator only; the builders are fraud_app.etl.rule_base's,
fraud_app.etl.rules' and fraud_app.etl.id_marks'. A builder it decorates must be a
function of its (hashable) arguments alone: no config, no data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from pyspark.sql import Column

_memo: ContextVar[dict | None] = ContextVar("fraud_app_etl_shared_columns", default=None)
Builder = TypeVar("Builder", bound=Callable[..., Column])


@contextmanager
def shared_columns() -> Iterator[None]:
    """The scope in which `shared` builders build each Column once; a scope inside another
    shares the outer one's Columns. Nothing is kept after the outermost one ends."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def shared(build: Builder) -> Builder:
    """`build`, whose Column is built once per arguments inside `shared_columns()`."""

    @functools.wraps(build)
    def get(*args):
        memo = _memo.get()
        if memo is None:
            return build(*args)
        key = (build, args)
        if key not in memo:
            memo[key] = build(*args)
        return memo[key]

    return get  # type: ignore[return-value]
