"""docs/CONFIG.md: every config key with its default and the values it accepts, generated
from the section models, so the reference cannot drift from the code
(`python -m fraud_app.config_reference > docs/CONFIG.md`; a test compares the file).

What each key means is in the README's "Configuration" section and each section model's
docstring; this file is the exhaustive list.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fraud_app.config import DERIVED_DEFAULTS, AppConfig, section_model
from fraud_app.config_inert import reference_lines

_BOUNDS = ((at.Ge, ">= {}", "ge"), (at.Gt, "> {}", "gt"), (at.Le, "<= {}", "le"),
           (at.Lt, "< {}", "lt"))  # fmt: skip
_NAMES = {int: "integer", float: "number", str: "text", bool: "true | false",
          dt.date: "date", dt.datetime: "date-time", type(None): "null"}  # fmt: skip


def _bounds(metadata: list[Any]) -> list[str]:
    out = []
    for item in metadata:
        for kind, form, attr in _BOUNDS:
            if isinstance(item, kind):
                out.append(form.format(getattr(item, attr)))
        if isinstance(item, at.MinLen):
            out.append(f"length >= {item.min_length}")
        if isinstance(item, at.MaxLen):
            out.append(f"length <= {item.max_length}")
        if isinstance(item, FieldInfo):
            out += _bounds(item.metadata)
    return out


def describe(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A type annotation in words: `integer >= 1`, `relu | tanh`, `list of number`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return describe(args[0], list(args[1:]) + list(metadata or []))
    bounds = _bounds(metadata or [])
    if origin in (typing.Union, types.UnionType):  # bounds hold for the non-null part
        return " or ".join(describe(a, None if a is type(None) else metadata) for a in args)
    if origin is typing.Literal:
        text = " | ".join(str(a) for a in args)
    elif origin in (list, tuple):
        item = describe(args[0]) if args else "any"
        text = f"list of ({item})" if " " in item and "|" not in item else f"list of {item}"
        bounds = [
            b.replace("length >= ", "at least ").replace("length <= ", "at most ") + " item(s)"
            for b in bounds
        ]
    elif origin is dict:
        text = f"mapping of {describe(args[0])} to {describe(args[1])}"
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        text = " | ".join(str(m.value) for m in annotation)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = "section"
    else:
        text = _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return f"{text} {', '.join(bounds)}" if bounds else text


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "(required)"
    value = _plain(info.get_default(call_default_factory=True))
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return repr(value).replace("|", "\\|")


def rows(model: type[BaseModel] = AppConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, accepts) for every key, sections before their keys."""
    out = []
    for name, info in model.model_fields.items():
        key = prefix + name
        inner = section_model(info.annotation)
        accepts = describe(info.annotation, list(info.metadata)).replace("|", "\\|")
        if inner is not None and prefix:  # a nested section: its own row, then its keys
            out.append((key, _default(info), accepts))
        if inner is not None:  # a mapping of sections: one per name the user picks
            mapping = typing.get_origin(info.annotation) is dict
            out += rows(inner, key + (".<name>." if mapping else "."))
        else:
            derived = DERIVED_DEFAULTS.get(key)
            out.append((key, repr(derived) if derived else _default(info), accepts))
    return out


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Every key `fraud-app` reads from its YAML config, its default and what it accepts;",
        "generated from the section models by `python -m fraud_app.config_reference >",
        "docs/CONFIG.md` (tests/fraud_app/test_config_reference.py fails when it is stale).",
        'What each key does: README.md, "Configuration", and the docstring of the section\'s',
        "model (`fraud_app/<package>/config.py`). Any other key is an error naming the nearest",
        "valid one; every number must be finite (`.inf` / `.nan` are refused).",
        "",
    ]
    every = rows(AppConfig, "")
    for section in AppConfig.model_fields:
        lines += [f"## `{section}`", "", "| key | default | accepts |", "| --- | --- | --- |"]
        for key, default, accepts in every:
            if key.split(".", 1)[0] == section:
                lines.append(f"| `{key}` | `{default}` | {accepts} |")
        lines.append("")
    lines += reference_lines()  # keys another setting makes do nothing (probe55g)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
