"""The app's one config file: YAML -> frozen pydantic models (unknown keys are errors).

Precedence, documented once: built-in defaults < config file < CLI flags.
Each workflow step owns its own section model; this module assembles them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fraud_app import yamlfile
from fraud_app.balancing.config import BalancingSection
from fraud_app.baselines.config import BaselinesSection
from fraud_app.config_base import COPY_UPDATES, Section, error_message, nearest
from fraud_app.config_inert import warn_inert
from fraud_app.config_paths import PathsSection
from fraud_app.data.config import GenerateSection
from fraud_app.errors import ArgumentKindError, ConfigError
from fraud_app.etl.config import EtlSection
from fraud_app.evaluation.config import BacktestSection, TuneSection
from fraud_app.features.config import FeaturesSection, SplitsSection
from fraud_app.models.config import TrainingSection
from fraud_app.redaction import redact_mapping, redact_text
from fraud_app.retention.config import RetentionSection
from fraud_app.root_access import check_root_access
from fraud_app.scoring.config import ScoringSection
from fraud_app.spark.cluster_defaults import PINNED
from fraud_app.spark.session import UTC_NAMES
from fraud_app.tracking.config import RegistrySection, TrackingSection
from fraud_app.uris import local_argument
from fraud_app.validation.config import ValidationSection


class SparkSection(Section):
    """The Spark session: `master` (null: --master, else env FRAUD_APP_SPARK_MASTER, else
    local[*]), `app_name`, `conf` (Spark settings, checked against the settings Spark
    knows; `spark.sql.session.timeZone` must stay UTC and the settings of
    fraud_app.spark.cluster_defaults.PINNED their value) and `env_archive` (the packed
    environment executors run, `fraud-app pack-env`)."""

    master: str | None = None
    app_name: str = Field("fraud-app", min_length=1)
    conf: dict[str, str] = Field(default_factory=dict)
    # A packed Python environment (`fraud-app pack-env`) shipped to executors with
    # spark.archives; ignored on local masters. Path or hdfs://, s3a://, gs:// URI.
    env_archive: str | None = None

    @field_validator("conf", mode="before")
    @classmethod
    def _scalars_as_text(cls, value: Any) -> Any:
        """Spark reads every setting as text: `spark.sql.shuffle.partitions: 4` or
        `spark.ui.enabled: false` in YAML (a number, a boolean) were refused as 'Input
        should be a valid string'. Numbers and booleans become Spark's spelling; lists,
        mappings and nulls are still errors naming the key."""
        if not isinstance(value, dict):
            return value
        return {
            k: str(v).lower()
            if isinstance(v, bool)
            else str(v)
            if isinstance(v, int | float)
            else v
            for k, v in value.items()
        }

    @field_validator("conf")
    @classmethod
    def _not_the_master(cls, value: dict[str, str]) -> dict[str, str]:
        """`spark.master` / `spark.app.name` here overrode spark.master (or --master) and
        spark.app_name behind the master check and the log's back."""
        own = {"spark.master": "spark.master", "spark.app.name": "spark.app_name"}
        for key in value:
            if key in own:
                raise ValueError(
                    f"{key!r} is set by the config key {own[key]} (or --master), not in spark.conf"
                )
        zone = value.get("spark.sql.session.timeZone")
        if zone is not None and zone not in UTC_NAMES:
            raise ValueError(
                f"'spark.sql.session.timeZone' must be UTC (received {zone!r}): event_date, "
                "score / evaluate dates and the split windows are UTC dates, and another zone "
                "put transactions near midnight in one date's partition but outside its "
                "window. Leave it out; give local times with their offset in the data "
                "(2024-03-01T10:00:00+01:00)"
            )
        for pin in PINNED:
            if pin.key in value and not pin.holds(value[pin.key]):
                raise ValueError(
                    f"{pin.key!r} must be {pin.value} (received {value[pin.key]!r}): {pin.why}. "
                    "Leave it out"
                )
        return value


class PrivacySection(Section):
    """How card numbers are shown where fraud-app writes outside the data tables.
    `card_numbers: masked` (default): the dashboards' sample of quarantined rows shows each
    card number as its first six and last four digits (`453987******7897`, as PCI DSS
    allows), since pages are mailed around and logged to MLflow; `full`: as the
    quarantine table holds it, for an investigator deployment whose reports folder and
    MLflow artifact store are inside the PCI scope. Logs, `error:` lines, the ETL and
    validation summaries and reports mask card numbers whatever this says
    (fraud_app.card_masking); the tables (canonical, quarantine, features, scores) keep
    them whole."""

    card_numbers: Literal["masked", "full"] = "masked"


# defaults derived from other keys, as docs/CONFIG.md shows them (fraud_app.config_reference):
# the field's own default is only the value under the other key's default
DERIVED_DEFAULTS = {"scoring.model": "models:/<registry.model_name>@champion"}


class AppConfig(Section):
    spark: SparkSection = Field(default_factory=SparkSection)
    paths: PathsSection = Field(default_factory=PathsSection)
    # Step sections are added here by their owning modules' models.
    generate: GenerateSection = Field(default_factory=GenerateSection)
    etl: EtlSection = Field(default_factory=EtlSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    splits: SplitsSection = Field(default_factory=SplitsSection)
    balancing: BalancingSection = Field(default_factory=BalancingSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    backtest: BacktestSection = Field(default_factory=BacktestSection)
    tune: TuneSection = Field(default_factory=TuneSection)
    baselines: BaselinesSection = Field(default_factory=BaselinesSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    registry: RegistrySection = Field(default_factory=RegistrySection)
    scoring: ScoringSection = Field(default_factory=ScoringSection)
    retention: RetentionSection = Field(default_factory=RetentionSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)

    @model_validator(mode="after")
    def _scoring_model_follows_the_registry(self) -> AppConfig:
        """scoring.model not given: `models:/<registry.model_name>@champion`, this project's
        champion. It stayed models:/fraud-ensemble@champion whatever registry.model_name
        said: a project that renamed its model on a shared store (the README's advice) had
        `score` read the other project's champion under the old name, unchecked (another
        name than registry.model_name is read as asked), and scored its transactions with
        it without a word (session 50).

        Derived, not given: scoring.model stays out of the settings given
        (`model_fields_set`), so a config written from this one (tune's best config, a
        dump with exclude_unset) leaves it out and follows a later registry.model_name
        (review50a: filled in before validation, it was written as a setting, and a
        `model_copy` renaming the model kept the old name's champion)."""
        scoring = self.scoring
        model = f"models:/{self.registry.model_name}@champion"
        if "model" in scoring.model_fields_set or scoring.model == model:
            return self
        values = {**{name: getattr(scoring, name) for name in type(scoring).model_fields},
                  "model": model}  # fmt: skip
        derived = type(scoring).model_construct(set(scoring.model_fields_set), **values)
        object.__setattr__(self, "scoring", derived)  # frozen: set once, while validating
        return self

    @field_validator("splits")
    @classmethod
    def _date_windows_apart(cls, section: SplitsSection, info: ValidationInfo) -> SplitsSection:
        """by: dates windows out of order, overlapping or closer than their gaps (the test
        gap defaults to features.label_delay_days, a key of another section) were refused
        only by `train` / `tune` after Spark had started and read the feature table: in a
        scheduled `fraud-app run`, after the whole ETL, validation and feature build.

        Checked when the splits are given: the file's (and its overrides'), or a copy that
        changes them. A copy that changes another section only (`features
        --label-delay-days 10`, whose step reads no splits) is not refused over the windows
        (review51d): train and tune check them again against the delay in force
        (`plan_windows`), and refuse a table built with another delay than the config's."""
        updates = (info.context or {}).get(COPY_UPDATES)
        if updates is not None and "splits" not in updates:
            return section
        features = info.data.get("features")  # absent when features itself is invalid
        if features is not None and (problem := section.date_windows_problem(
                features.label_delay_days)):  # fmt: skip
            raise ValueError(problem)
        return section

    @field_validator("balancing")
    @classmethod
    def _label_is_the_tables(cls, section: BalancingSection) -> BalancingSection:
        # the feature table train / tune / backtest read names its label `label` whatever
        # the export calls it: another name failed after Spark started, the table was read
        # and split ("balancing strategy ... needs column(s) ['is_fraud']")
        if section.label_column != "label":
            raise ValueError(
                f"label_column is {section.label_column!r}, but the feature table that "
                "train, tune and backtest balance names its label 'label' whatever the export "
                "calls it: map the export's column under etl.columns (e.g. label: "
                f"{section.label_column}) and leave balancing.label_column out (it is for "
                "the balancing strategies' Python API on other DataFrames)"
            )
        return section

    def etl_tables(self) -> tuple[str, str]:
        """The tables the ETL publishes (and the `labels` feed rewrites): the canonical table
        (etl.output, else <paths.canonical>) and the quarantine (etl.quarantine, else
        <paths.quarantine>), as configured (a trailing '/' kept)."""
        return (self.etl.output or self.paths.resolve("canonical"),
                self.etl.quarantine or self.paths.resolve("quarantine"))  # fmt: skip

    def canonical_table(self) -> str:
        """The canonical table that validation, the feature step and the scoring job read:
        features.input, else the ETL's output (etl.output, else <paths.canonical>), so a
        config that moves the ETL's output moves every reader with it."""
        return str(self.features.input or self.etl_tables()[0])

    def feature_table(self) -> str:
        """The feature table: features.output, else <paths.features>."""
        return str(self.features.output or self.paths.resolve("features"))

    def scores_output(self) -> tuple[str, str]:
        """Where `fraud-app score` writes, and the setting that named it (for errors):
        scoring.output, else <paths.scores>."""
        if self.scoring.output:
            return str(self.scoring.output), "scoring.output"
        return self.paths.resolve("scores"), "paths.scores"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the parser found and where (its own message spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    context = getattr(exc, "context", None)
    # an editor's tab indent: PyYAML says only "found character '\t' that cannot start any token"
    tab = "; YAML indents with spaces, never tabs" if "'\\t'" in problem else ""
    return f"{problem}{where}" + (f" ({context})" if context else "") + tab


MAX_CONFIG_BYTES = 16 << 20  # a config is a small YAML file; a data file passed as -c is not


def _config_text(p: Path) -> str:
    """The text of config file `p`: a regular file, or a pipe (`-c <(envsubst < t.yaml)`);
    a directory, a device (`/dev/null`, `/dev/zero`: read without end) or socket, and a
    file over MAX_CONFIG_BYTES (a data file given by mistake) are errors naming it."""
    if p.is_dir():
        raise ConfigError(f"config file {p} is a directory; pass the YAML file itself")
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist")
    if not (p.is_file() or p.is_fifo()):  # it said "does not exist" for /dev/null
        raise ConfigError(
            f"config file {p} is not a regular file (a device or socket); pass the YAML file itself"
        )
    with p.open("rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {p} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a config is a small "
            "YAML file (`fraud-app init DIR` writes an annotated one): is it a data file?"
        )
    return raw.decode("utf-8")


def load_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None, *, check_root: bool = True
) -> AppConfig:
    """Read the YAML file (None = defaults), apply dotted-key overrides, validate; then
    (check_root) refuse a paths.root every local user may write, and warn once about one
    they may read (fraud_app.root_access). The CLI passes check_root=False and checks the
    root itself for the commands that use it (`init` writes a project, not into the root)."""
    data: dict[str, Any] = {}
    if path is not None and not isinstance(path, str | os.PathLike):  # 'config file {...}'
        raise ArgumentKindError(
            "load_config: `path` must be the config file's path (str or Path) or None; "
            f"received {type(path).__name__}"
            + (": give settings as dotted overrides, load_config(None, {'paths.root': ...})"
               if isinstance(path, dict) else "")
        )  # fmt: skip
    if path is not None:
        p = local_argument(path, "config file", writes=False)  # file:/x is /x; hdfs: refused
        try:
            loaded = yamlfile.safe_load(_config_text(p))  # a key written twice is an error
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {_yaml_problem(exc)}") from exc
        except RecursionError:
            raise ConfigError(f"config file {p} is nested too deeply to read") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {p} cannot be read: {exc}") from exc
        if loaded is None:  # an empty file (or comments only) is a mistake, not "use defaults"
            raise ConfigError(
                f"config file {p} is empty; give it at least one section (`fraud-app init DIR` "
                "writes an annotated config; every key: docs/CONFIG.md), "
                "or leave out -c/--config to run on the built-in defaults"
            )
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {p} must hold a mapping at top level. Received: {type(loaded).__name__}"
            )
        data = loaded
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    where = f"config file {path}" if path else "config"
    problems = list(unexpanded(data, "", path))
    if problems:
        raise ConfigError(f"{where} is invalid:\n  " + "\n  ".join(problems))
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        lines = error_lines(exc, AppConfig)
        raise ConfigError(f"{where} is invalid:\n  " + "\n  ".join(lines)) from exc
    warn_inert(config)  # a key given that another setting makes do nothing (probe55g)
    # the CLI's rule for who may reach paths.root, for a notebook too (fraud_app.root_access)
    if check_root:
        check_root_access(config.paths.driver_root(), config.paths.driver_setting())
    return config


_ENV_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_BRACED_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=?+][^}]*)?\}")
_HOME_REFERENCE = re.compile(r"~[A-Za-z0-9_.-]*/")  # not "~" alone: a CSV delimiter


# the keys that name files, folders, tables or stores (other text, such as a column name,
# that holds `$x` is a name of its own, and a wrong one fails where it is used)
_PLACE_KEYS = frozenset({"input", "output", "quarantine", "spec_dir", "spec_files", "uri",
                         "artifact_location", "model"})  # fmt: skip


def _names_a_place(key: str) -> bool:
    return key.startswith("paths.") or key.split(".")[-1].split("[")[0] in _PLACE_KEYS


def unexpanded(node: Any, key: str, path: str | Path | None) -> Iterator[str]:
    """One line per path or URI value that relies on a shell's expansion, which a YAML file
    never gets: `${DATA_DIR}/fraud`, `$HOME/x` and `~/fraud` were used as written, and the steps
    wrote under folders named `${DATA_DIR}` or `~` in the working directory. spark.conf is
    left alone (Spark substitutes its own `${env:X}` / `${spark.x}` references)."""
    if key == "spark.conf":
        return
    if isinstance(node, dict):
        for k, v in node.items():
            yield from unexpanded(v, f"{key}.{k}" if key else str(k), path)
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from unexpanded(v, f"{key}[{i}]", path)
    elif isinstance(node, str) and _names_a_place(key):
        # a `$` in a URI's password or token (`postgresql://u:pa$word@h/db`) is a character
        # of the secret, which is never quoted either; `${NAME}` anywhere is a reference
        shown = redact_text(node)
        if match := _ENV_REFERENCE.search(shown) or _BRACED_REFERENCE.search(node):
            how = f"-c <(envsubst < {path})" if path else "the shell's own $VAR in the flag"
            yield (
                f"{key}: {shown!r} refers to the environment variable {match.group(1)}, but the "
                f"config is read as written (no interpolation); write the value itself, or "
                f"expand it before fraud-app reads it: {how}"
            )
        elif _HOME_REFERENCE.match(node):
            yield (
                f"{key}: {shown!r} starts with '~', which is not expanded (it would name a folder "
                "'~' in the working directory); write the absolute path"
            )


def error_lines(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """One line per problem: the dotted key, what was wrong, the value received. An unknown
    key (a typo such as `num_worker`) names the nearest valid key of its section, or lists
    the valid ones."""
    lines = []
    for e in exc.errors():
        key = prefix + ".".join(str(x) for x in e["loc"])
        # the value as it may be shown: a password or key in it is `***` (fraud_app.redaction)
        received = redact_mapping(_as_written(e.get("input")), e["loc"][-1] if e["loc"] else "")
        if e["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (received {received!r}); "
                         + _valid_keys(model, e["loc"], prefix, e.get("input")))  # fmt: skip
        else:
            msg = error_message(e, *_section_at(model, e["loc"]))
            lines.append(f"{key}: {msg} (received {received!r})")
    return lines


def _section_at(model: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, bool]:
    """(the section model at `loc`, whether its key takes null), for error_message."""
    parent = _model_at(model, loc[:-1]) if loc else None
    field = parent.model_fields.get(str(loc[-1])) if parent is not None else None
    if field is None:
        return None, False
    return section_model(field.annotation), type(None) in typing.get_args(field.annotation)


def _as_written(value: Any) -> Any:
    """A received value as the config writes it: a section checked whole (the splits
    windows against the label delay) showed `datetime.date(2024, 1, 1)` for each date, and
    on a copy the section's Python repr, `SplitsSection(by='dates', train_days=None, ...)`,
    every default included (review51d). A section becomes the keys it was given (then
    redacted as any mapping), a date or time its ISO text."""
    if isinstance(value, BaseModel):
        return _as_written(value.model_dump(mode="json", exclude_unset=True))
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_written(v) for v in value]
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    return value


def _valid_keys(model: type[BaseModel], loc: tuple, prefix: str = "", e_input: Any = None) -> str:
    section = _model_at(model, loc[:-1])
    if section is None:
        return "every valid key: docs/CONFIG.md"
    valid = list(section.model_fields)
    if dotted := _dotted_path(section, str(loc[-1]), e_input):
        return dotted
    close = nearest(loc[-1], valid)
    if close:
        return f"did you mean {close!r}?"
    elsewhere = [prefix + k for k in _keys_named(model, str(loc[-1]))]
    if elsewhere:  # the right key in the wrong section, e.g. training.num_workers
        return f"it is a key of {' / '.join(k.rsplit('.', 1)[0] for k in elsewhere)}"
    return f"valid keys here: {', '.join(valid)}"


def _dotted_path(section: type[BaseModel], name: str, value: Any) -> str | None:
    """The advice for a dotted path written as one key (`training.distributed.epochs: 3`,
    as `--set`-style tools and docs/CONFIG.md name keys) when the path leads to a key of
    `section`: YAML takes it as one name, which no section has."""
    *parents, last = name.split(".")
    keys = getattr(_model_at(section, tuple(parents)), "model_fields", None) if parents else None
    if not keys:
        return None
    # a typo in the path's last part (`training.distributed.epoch`) listed every key of the
    # section the dotted name was written in, as if the path were not one (review51d)
    typo = None if last in keys else nearest(last, keys)
    if last not in keys and typo is None:
        return None
    nested = f"{typo or last}: {redact_mapping(value, last)!r}"  # a password in it is `***`
    for part in reversed(parents):
        nested = f"{part}: {{{nested}}}"
    return (f"a YAML key is one name, not a dotted path: write the sections nested, "
            f"e.g. {nested}" + (f" ({last!r} is not a key there; did you mean {typo!r}?)"
                                if typo else ""))  # fmt: skip


def _keys_named(model: type[BaseModel], name: str, path: str = "", depth: int = 0) -> list[str]:
    """Dotted keys anywhere under `model` whose last part is `name`."""
    found = []
    for field, info in model.model_fields.items():
        key = f"{path}{field}"
        if field == name:
            found.append(key)
        inner = section_model(info.annotation)
        if inner is not None and depth < 6:
            found += _keys_named(inner, name, key + ".", depth + 1)
    return found


def _model_at(model: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The section model that the keys `loc` lead to (list indexes skipped), or None."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        model = section_model(field.annotation) if field is not None else None
    return model


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The section model inside a field's type (`X`, `X | None`, `list[X]`, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := section_model(arg)) is not None:
            return found
    return None


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`data` (a config as nested dicts) with `value` at the dotted key, sections made as
    needed (a ConfigError when a key on the way holds a value, not a section)."""
    node = data
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = value
