"""The base of every config section: unknown keys are errors, values are frozen.

Its own module so each step's section model can import it without importing
fraud_app.config, which assembles all sections into AppConfig.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from fraud_app.schema import calendar_date


class Section(BaseModel):
    # allow_inf_nan=False: `.inf` / `.nan` in YAML are floats; an infinite epochs, timeout
    # or learning rate was accepted and trained or waited without end (bounds such as
    # `gt=0` let +inf through). Every float key is a finite number or null.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        return no_number_for_a_date(cls, no_boolean_for_a_number(cls, value, info), info)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        return validated_copy(self, update, deep)


COPY_UPDATES = "copy_updates"  # validation context of a `model_copy(update=...)`: its keys


def validated_copy(model: BaseModel, update: Mapping[str, Any] | None, deep: bool) -> Any:
    """`model` with `update` validated as a config file's values are (every check, also
    the model's own cross-field ones). pydantic's `model_copy(update=...)` takes `update`
    as it is: `cfg.training.distributed.model_copy(update={"epochs": -3})` in a notebook,
    or a step's copy of a section, kept a value no config file could give. Raises
    ConfigError naming the key, what was wrong and the value received."""
    if not update:
        return BaseModel.model_copy(model, deep=deep)
    from pydantic import ValidationError

    from fraud_app.errors import ConfigError

    values = {name: getattr(model, name) for name in model.model_fields_set}
    values.update(update)
    try:
        # context: the sections the copy changes, for a cross-section check that concerns
        # only some of them (AppConfig's splits windows against features.label_delay_days)
        return type(model).model_validate(copy.deepcopy(values) if deep else values,
                                          context={COPY_UPDATES: frozenset(update)})  # fmt: skip
    except ValidationError as exc:
        from fraud_app.config import error_lines

        lines = error_lines(exc, type(model))
        raise ConfigError(
            f"{type(model).__name__}.model_copy(update=...) is invalid:\n  " + "\n  ".join(lines)
        ) from exc


def no_boolean_for_a_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """pydantic reads true as 1: `num_workers: true` trained with 1 worker and
    `learning_rate: yes` with 1.0 (YAML reads true/false/yes/no/on/off as booleans). A
    `field_validator("*", mode="before")` of config sections and feature kinds calls it."""
    if isinstance(value, bool) and info.field_name is not None:
        field = model.model_fields.get(info.field_name)
        if field is not None and _number_not_bool(field.annotation):
            raise ValueError(
                f"expected a number, not the boolean {str(value).lower()} (YAML reads "
                "true/false, yes/no and on/off as booleans)"
            )
    return value


# a number as text, as pydantic reads one for a time: `1.7e9` (YAML 1.1 text, no dot-sign
# exponent) and `.5` were seconds since 1970 too (review51d)
_NUMBER_TEXT = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")
_YYYYMMDD = re.compile(r"\d{8}")


def no_number_for_a_date(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """pydantic reads a number given for a date or time as seconds since 1970-01-01 UTC:
    `reference_time: 20240301` (the compact YYYYMMDD of `date +%Y%m%d`) was the time
    1970-08-23T06:18:21 and freshness was judged against it, `start_date: 0` generated
    1970's data, and `backtest.end: 20240301` (or `--end 20240301`) was refused as
    'Datetimes provided to dates should have zero time'. A date key reads eight digits as
    YYYYMMDD, as the CLI's date flags do (`score --date 20240301`); any other number, or
    text that is one, is an error saying what to write."""
    if info.field_name is None or isinstance(value, bool):
        return value
    number = isinstance(value, int | float) or (
        isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is not None
    )
    field = model.model_fields.get(info.field_name)
    if not number or field is None:
        return value
    kinds = set(typing.get_args(field.annotation)) | {field.annotation}
    if dt.datetime in kinds:
        example = "a date and time such as 2024-03-01T00:00:00 (ISO 8601, UTC)"
    elif dt.date in kinds:
        if isinstance(value, int | str) and _YYYYMMDD.fullmatch(str(value).strip()):
            try:  # the CLI's date flags read 20240301 (Airflow's ds_nodash) so too
                return calendar_date(str(value).strip())
            except ValueError:
                pass  # 20240230: the error below
        example = "a date such as 2024-03-01 (YYYY-MM-DD, or YYYYMMDD)"
    else:
        return value
    raise ValueError(
        f"expected {example}, not the number {value!r} (a number would be read as seconds "
        "since 1970-01-01)"
    )


def _number_not_bool(annotation: Any) -> bool:
    """True when a field takes an int or a float (alone, in a union, optional) but no bool."""
    kinds = set(typing.get_args(annotation)) | {annotation}
    return bool(kinds & {int, float}) and bool not in kinds


def error_message(err: dict, section: type[BaseModel] | None = None, optional: bool = False) -> str:
    """A pydantic error's message as the user should read it: a validator's own message
    without the "Value error, " pydantic puts before it; a section given something else
    than its keys (`splits:` followed by `- test_days: 7`, a list) says what a section
    is, not "Input should be a valid dictionary or instance of SplitsSection" (a class
    name the config never shows). `section`: the section's model, `optional`: whether
    its key takes null, for the way to turn it off that a boolean given asks for."""
    if err["type"] == "model_type":
        given = err.get("input")
        if given is None:  # `splits:` with nothing under it (its keys commented out)
            return ("expected a section, but it is empty (nothing under it): give its keys "
                    "indented under it, or leave the section out for its defaults")  # fmt: skip
        kind = (
            "a list (lines starting with '- ')"
            if isinstance(given, list | tuple)
            else ("one value")
        )
        # `enabled: false` only where the section has that key: `early_stopping: false` was
        # told to take `enabled: false`, an unknown key there (it is turned off by null)
        switch = ""
        if isinstance(given, bool) and section is not None and "enabled" in section.model_fields:
            switch = " (a section that can be turned off takes `enabled: false` under it)"
        elif isinstance(given, bool) and optional:
            switch = f" (it is turned off with null: `{err['loc'][-1]}: null`)"
        return (f"expected a section: its keys indented under it, one `key: value` a line "
                f"(or {{key: value, ...}}), not {kind}{switch}")  # fmt: skip
    return err["msg"].removeprefix("Value error, ")


def nearest(name: object, valid: Iterable[str]) -> str | None:
    """The valid name closest to `name` (a likely typo of it), or None when none is close."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def name_unknown(names: Iterable[str], valid: Iterable[str]) -> str:
    """Each name as `'x'`, followed by ` (did you mean 'y'?)` when a valid one is close: the
    names of a mapping whose keys are not config keys (etl.columns, a check name), which
    pydantic's unknown-key errors do not cover."""
    valid = list(valid)
    parts = []
    for name in names:
        close = nearest(name, valid)
        parts.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
    return ", ".join(parts)
