"""Feature spec files (YAML) -> a resolved, ordered FeatureSet.

A spec file is data, not code:

    version: 1
    features:
      - kind: window_agg          # a name in fraud_app.features.definitions.KINDS
        entity: card
        aggregations: [count, sum, mean, max]   # a plural key expands into one
        windows: [1h, 24h, 7d, 30d]             # feature per value (cartesian product)

Owns parsing, expansion of plural keys and error messages that name the file and the
key path ("feature_specs/card.yaml: features[3].windows[1] must be a duration like
'1h' or '7d' ..."). Does not know about Spark.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fraud_app import yamlfile
from fraud_app.config_base import error_message, name_unknown, nearest
from fraud_app.errors import FeatureSpecError
from fraud_app.features.base import FeatureDef
from fraud_app.features.definitions import KINDS
from fraud_app.uris import local_argument

logger = logging.getLogger(__name__)

SPEC_VERSION = 1
# plural key in a spec entry -> the singular field each expanded feature receives
PLURALS: dict[str, str] = {
    "windows": "window",
    "aggregations": "aggregation",
    "parts": "part",
    "columns": "column",
    "lags": "lag",
    "values": "value",
}
_TOP_LEVEL_KEYS = ("version", "description", "features")


@dataclass(frozen=True)
class SourcedFeature:
    """A feature definition plus where it was defined (for error messages)."""

    feature: FeatureDef
    source: str  # "feature_specs/card.yaml: features[3]"


@dataclass(frozen=True)
class FeatureSet:
    """The ordered features to compute and the label-availability rule they share.

    Order = spec files in the order given (sorted by name when read from a directory),
    entries in file order, plural expansion in key order. It fixes the order of the
    assembled `features` vector.
    """

    features: tuple[FeatureDef, ...]
    label_delay_s: int
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.label_delay_s < 0:
            raise FeatureSpecError(
                f"label delay must be >= 0 seconds. Received: {self.label_delay_s}"
            )
        # by lower-case name: Spark compares column names case-insensitively, so
        # `one_hot` values [POS, pos] stopped the compiler with AMBIGUOUS_REFERENCE
        seen: dict[str, tuple[str, str]] = {}
        sources = self.sources or tuple("<code>" for _ in self.features)
        for feature, source in zip(self.features, sources, strict=True):
            first = seen.get(feature.name.lower())
            if first is not None:
                same = "" if first[0] == feature.name else f" as {first[0]!r}"
                raise FeatureSpecError(
                    f"{source} defines feature {feature.name!r}, already defined{same} by "
                    f"{first[1]}. Feature names must be unique, also ignoring case (Spark "
                    "reads column names so): remove or rename one."
                )
            seen[feature.name.lower()] = (feature.name, source)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def subset(self, names: Iterable[str]) -> FeatureSet:
        keep = set(names)
        pairs = [
            (f, s)
            for f, s in zip(
                self.features, self.sources or ("<code>",) * len(self.features), strict=True
            )
            if f.name in keep
        ]
        return FeatureSet(
            features=tuple(f for f, _ in pairs),
            label_delay_s=self.label_delay_s,
            sources=tuple(s for _, s in pairs),
        )


def definitions(feature_set: FeatureSet, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each named feature's definition as plain JSON (kind, every field, and the label delay
    of a label feature): stored with a model, so scoring can tell a feature whose spec
    changed but whose name did not (e.g. time_since_previous's cap)."""
    by_name = {f.name: f for f in feature_set.features}
    out = {}
    for name in names:
        f = by_name.get(name)
        if f is not None:
            extra = {"label_delay_s": feature_set.label_delay_s} if f.uses_labels else {}
            out[name] = {"kind": f.kind, **f.model_dump(mode="json"), **extra}
    return out


def table_definitions(metadata: dict[str, Any], stored: dict[str, Any]) -> dict[str, dict]:
    """What a feature table's `_features.json` records of the specs it was built with, in
    the shape of `definitions` (for the features named in `stored`, a model's definitions)."""
    delay_days = metadata.get("label_delay_days")
    out = {}
    for entry in metadata.get("features") or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in stored:
            out[name] = {k: v for k, v in entry.items() if k not in ("name", "fill")}
            if "label_delay_s" in stored[name] and delay_days is not None:
                # whole seconds, as FeatureSet holds it (round(days * 86_400)): the table
                # records seconds / 86_400, and 0.7 days read back as 60479.99999999999 s,
                # a change of definition that `train` refused on the table `features` had
                # just built under the same config (review51d)
                out[name]["label_delay_s"] = round(float(delay_days) * 86_400)
    return out


def table_differences(
    metadata: dict[str, Any], feature_set: FeatureSet, names: Iterable[str]
) -> str | None:
    """How the feature table of `metadata` (its `_features.json`) computed the features
    `names` otherwise than `feature_set` (the config's specs and label delay) defines them
    now, in words; None when it did not, or records no definitions (an older table).
    Training learns the table's values but records the specs' definitions with the model
    (for `score` to compute the same): they must agree."""
    now = definitions(feature_set, names)
    changed = diff_definitions(table_definitions(metadata, now), now)
    delay = [n for n, d in changed.items() if any(f.startswith("label_delay_s:") for f in d)]
    fields = {n: [f for f in d if not f.startswith("label_delay_s:")] for n, d in changed.items()}
    fields = {n: d for n, d in fields.items() if d}
    parts = []
    if fields:
        shown = "; ".join(f"{n} ({', '.join(d)})" for n, d in list(fields.items())[:5])
        more = f" and {len(fields) - 5} more" if len(fields) > 5 else ""
        parts.append(f"{len(fields)} feature(s) with another definition (table -> specs): "
                     f"{shown}{more}")  # fmt: skip
    if delay:
        parts.append(
            f"the label delay of {len(delay)} label feature(s) ({', '.join(delay[:5])}"
            f"{' ...' if len(delay) > 5 else ''}): the table was built with label_delay_days "
            f"{metadata.get('label_delay_days')!r}, features.label_delay_days is "
            f"{feature_set.label_delay_s / 86_400:g}"
        )
    return "; ".join(parts) or None


def diff_definitions(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, list[str]]:
    """{feature: [field: stored -> now, ...]} where both know the feature and differ. A field
    missing on one side reads as None: a key added to a kind later with a None default
    (window_agg's `relative_to`) leaves the features of older models and tables unchanged."""
    changed = {}
    for name, old in stored.items():
        new = now.get(name)
        if new is not None and new != old:
            keys = sorted(set(old) | set(new), key=str)
            diff = [
                f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)
            ]
            if diff:
                changed[name] = diff
    return changed


def spec_paths(spec_dir: str | Path, files: Sequence[str] | None = None) -> list[Path]:
    """The spec files to read: `files` (relative to spec_dir) or every *.yaml/*.yml, sorted."""
    # a file: URI as its local path (FeaturesSection refused a remote one)
    directory = local_argument(spec_dir, "features.spec_dir", writes=False)
    if files:
        named = [local_argument(f, "features.spec_files", writes=False) for f in files]
        paths = [p if p.is_absolute() else directory / p for p in named]
    else:
        if not directory.is_dir():
            raise FeatureSpecError(
                f"feature spec directory {directory} does not exist. Set features.spec_dir "
                "in the config to the folder holding your *.yaml feature specs."
            )
        paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    seen: dict[Path, Path] = {}
    for p in paths:
        if p.resolve() in seen:
            raise FeatureSpecError(
                f"features.spec_files lists {seen[p.resolve()]} twice (also as {p}): each "
                "file's features would be defined twice; list it once"
            )
        seen[p.resolve()] = p
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FeatureSpecError(f"feature spec file(s) not found: {missing}")
    if not paths:
        raise FeatureSpecError(f"no *.yaml feature specs in {directory}")
    return paths


def load_feature_set(paths: Sequence[str | Path], *, label_delay_days: float) -> FeatureSet:
    """Parse every spec file and resolve them into one FeatureSet."""
    sourced: list[SourcedFeature] = []
    for path in paths:
        sourced.extend(load_spec_file(path))
    return FeatureSet(
        features=tuple(s.feature for s in sourced),
        label_delay_s=round(label_delay_days * 86_400),
        sources=tuple(s.source for s in sourced),
    )


def load_spec_file(path: str | Path) -> list[SourcedFeature]:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")  # not the locale's: the same file reads the same anywhere
    except UnicodeDecodeError as exc:  # was a bare UnicodeDecodeError naming no file
        line = data[: exc.start].count(b"\n") + 1
        raise FeatureSpecError(
            f"{path}: not UTF-8 text (line {line}, byte "
            f"{exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "expected a YAML feature spec saved as UTF-8"
        ) from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, *, source: str) -> list[SourcedFeature]:
    """Features defined by one spec document; `source` names it in error messages."""
    try:
        doc = yamlfile.safe_load(text)  # a key written twice is an error
    except yaml.YAMLError as exc:
        raise FeatureSpecError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise FeatureSpecError(
            f"{source}: must be a mapping with keys {list(_TOP_LEVEL_KEYS)}. "
            f"Received: {type(doc).__name__}"
        )
    unknown = sorted(set(doc) - set(_TOP_LEVEL_KEYS))
    if unknown:
        raise FeatureSpecError(
            f"{source}: unknown top-level key(s) {name_unknown(unknown, _TOP_LEVEL_KEYS)}. "
            f"Valid keys: {list(_TOP_LEVEL_KEYS)}"
        )
    if doc.get("version") != SPEC_VERSION or isinstance(doc.get("version"), bool):
        raise FeatureSpecError(
            f"{source}: version must be {SPEC_VERSION}. Received: {doc.get('version')!r}"
        )
    entries = doc.get("features")
    if not isinstance(entries, list) or not entries:
        raise FeatureSpecError(
            f"{source}: features must be a non-empty list of feature entries. Received: {entries!r}"
        )
    out: list[SourcedFeature] = []
    for i, entry in enumerate(entries):
        out.extend(_parse_entry(entry, f"{source}: features[{i}]"))
    return out


def _parse_entry(entry: Any, where: str) -> list[SourcedFeature]:
    if not isinstance(entry, dict):
        raise FeatureSpecError(f"{where} must be a mapping with a `kind` key. Received: {entry!r}")
    odd = [k for k in entry if not isinstance(k, str)]
    if odd:  # `1: 2` or `null: x` in an entry was a bare TypeError
        raise FeatureSpecError(f"{where}: keys must be names (text). Received: {odd[0]!r}")
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # `kind: [a]` was a bare TypeError
        raise FeatureSpecError(f"{where}.kind must be one of {sorted(KINDS)}. Received: {kind!r}")
    cls = KINDS[kind]
    fields = {k: v for k, v in entry.items() if k != "kind"}
    out = []
    for values, origin in _expand(fields, where):
        try:
            feature = cls(**values)
        except ValidationError as exc:
            raise FeatureSpecError(_format_error(exc, where, kind, cls, origin)) from exc
        # the expanded values in the source: a value listed twice named `features[0]` twice
        out.append(
            SourcedFeature(feature, f"{where} ({', '.join(origin.values())})" if origin else where)
        )
    _refuse_inert(fields, where, kind, cls, [s.feature for s in out])
    return out


def _refuse_inert(
    fields: dict[str, Any], where: str, kind: str, cls: type[FeatureDef], features: list
) -> None:
    """A key of the entry that every feature it defines ignores (FeatureDef.inert_keys):
    `aggregation: count` with `column: amount_eur` built the same count as without it, and
    a fraud_rate's `prior` without `smoothing` changed nothing, without a word (probe55g).
    A key some of the entry's features use (`aggregations: [count, sum]` with a column:
    the sums read it) is kept."""
    inert = [feature.inert_keys() for feature in features]
    for key, why in inert[0].items():
        if all(key in keys for keys in inert):
            written = next((p for p, one in PLURALS.items() if one == key and p in fields), key)
            raise FeatureSpecError(
                f"{where}.{written} does nothing for kind {kind!r}: {why}. Remove it, or change "
                f"the setting that makes it inert. Keys of kind {kind!r}: {_valid_keys(cls)}"
            )


def _expand(fields: dict[str, Any], where: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Cartesian product over plural keys; origin maps singular key -> 'windows[2]'."""
    plural_keys = [k for k in fields if k in PLURALS]
    for key in plural_keys:
        values = fields[key]
        if not isinstance(values, list) or not values:
            raise FeatureSpecError(f"{where}.{key} must be a non-empty list. Received: {values!r}")
        if PLURALS[key] in fields:
            raise FeatureSpecError(
                f"{where} sets both {key!r} and {PLURALS[key]!r}: use one of them"
            )
    base = {k: v for k, v in fields.items() if k not in PLURALS}
    combos = itertools.product(*(list(enumerate(fields[k])) for k in plural_keys))
    out = []
    for combo in combos:
        values = dict(base)
        origin: dict[str, str] = {}
        for key, (index, value) in zip(plural_keys, combo, strict=True):
            values[PLURALS[key]] = value
            origin[PLURALS[key]] = f"{key}[{index}]"
        out.append((values, origin))
    return out


def _valid_keys(cls: type[FeatureDef]) -> list[str]:
    """The keys an entry of kind `cls` takes; the plural forms the shipped specs use
    (windows, aggregations) are keys too."""
    fields = ["kind", *cls.model_fields]
    return sorted(fields + [p for p, one in PLURALS.items() if one in fields])


def _format_error(
    exc: ValidationError, where: str, kind: str, cls: type[FeatureDef], origin: dict[str, str]
) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        key = ".".join([origin.get(loc[0], loc[0]), *loc[1:]]) if loc else ""
        path = f"{where}.{key}" if key else where
        if err["type"] == "extra_forbidden":
            # the plural forms the shipped specs use (windows, aggregations) are keys too
            valid = _valid_keys(cls)
            # never `kind`: it is read before the kind's keys (`window` on time_since_previous
            # was answered "did you mean 'kind'?", session 50)
            close = nearest(loc[0], [v for v in valid if v != "kind"])
            named = f" (did you mean {close!r}?)" if close else ""
            lines.append(f"{path} is not a key of kind {kind!r}{named}. Valid keys: {valid}")
            continue
        if err["type"] == "missing":
            lines.append(f"{path} is required for kind {kind!r}")
            continue
        msg = error_message(err)
        msg = msg[:1].lower() + msg[1:]
        if "Received:" not in msg:
            msg = f"{msg}. Received: {err.get('input')!r}"
        lines.append(f"{path} {msg}")
    return "\n".join(lines)
