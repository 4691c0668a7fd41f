"""Names and JSON metadata of an imported ONNX file: `metadata_props` values read as JSON of
the expected type (a damaged or foreign value is named, with the way out: --feature-names),
and the feature names an imported ensemble takes."""

from __future__ import annotations

import json
from typing import Any

from fraud_app.errors import OnnxConversionError


def json_prop(meta: dict[str, str], key: str, default: str, kind: type) -> Any:
    """A JSON metadata_props value of type `kind` (or null); a damaged one is named (it was a
    JSONDecodeError), as is one of another type (feature names "abc" were read as a, b, c)."""
    try:
        value = json.loads(meta.get(key) or default)
    except ValueError as exc:
        why = f"is not valid JSON ({exc})"
    else:
        odd = [v for v in value if not isinstance(v, str)] if isinstance(value, list) else []
        if value is None or (isinstance(value, kind) and not odd):
            return value
        why = f"is a JSON {type(value).__name__}, expected a JSON {kind.__name__}"
        why += f" of strings (it holds {odd[:3]})" if odd else ""
    raise OnnxConversionError(
        f"metadata_props {key!r} {why}; the file is damaged, edited or written by another "
        "tool. Export it again, or give --feature-names"
    )


def feature_names_of(meta: dict[str, str], given: list[str] | None, width: int) -> list[str]:
    """`given`, else the metadata's, else feature_000..: `width` non-empty, unique names (the
    scorer and the pyfunc signature look features up by name; [] is 0 names, not the
    default ones)."""
    try:
        recorded = json_prop(meta, "feature_names", "null", list)
    except OnnxConversionError:
        if given is None:
            raise
        recorded = None  # damaged or foreign: the names given replace it
    if given is not None and recorded is not None:
        _check_order(given, recorded)
    names = given if given is not None else recorded
    names = list(names if names is not None else (f"feature_{i:03d}" for i in range(width)))
    if len(names) != width:
        where = "were given" if given is not None else "are in metadata 'feature_names'"
        raise OnnxConversionError(
            f"{len(names)} feature names {where} but the model takes {width} features"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if "" in names or repeated:
        raise OnnxConversionError(
            f"feature names must be non-empty and unique; received {names} "
            f"({'an empty name' if '' in names else f'repeated: {repeated}'})"
        )
    return names


def _check_order(given: list[str], recorded: list[str]) -> None:
    """Names given over the file's own may rename features, never move one: a name the file
    records at position i, given at position j != i, reads column i as another feature
    (`--feature-names` in another order imported and scored every row on swapped columns)."""
    where = {n: i for i, n in enumerate(recorded)}
    moved = [n for j, n in enumerate(given) if where.get(n, j) != j]
    if moved:
        raise OnnxConversionError(
            f"feature names {moved} are given at other positions than the file records them "
            f"(its feature_names: {recorded}): the model would read each of those columns as "
            "another feature. Leave out --feature-names to keep the file's names, or give "
            "them in the file's order (new names rename a feature in place)"
        )
