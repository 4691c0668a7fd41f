"""Apply CLI flags on top of a config section (precedence: defaults < file < flags)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fraud_app.config import error_lines, unexpanded
from fraud_app.config_inert import warn_inert_flags
from fraud_app.errors import ConfigError
from fraud_app.naming import registered_name_problem

S = TypeVar("S", bound=BaseModel)


def with_flags(section: S, name: str, **flags: Any) -> S:
    """A copy of `section` with the flags that were given (not None), re-validated."""
    updates = {k: v for k, v in flags.items() if v is not None}
    if not updates:
        return section
    # `--spec-dir=~/specs`: bash expands no `~` after `=` (the config file's rule, for flags)
    unexpanded_flags = list(unexpanded({name: updates}, "", None))
    if unexpanded_flags:
        raise ConfigError("command-line flag(s) invalid:\n  " + "\n  ".join(unexpanded_flags))
    try:
        # exclude_unset: what the config file set stays "set" (model_fields_set), defaults
        # stay defaults (tune tells a search axis the user wrote from a default one)
        flagged = type(section).model_validate({**section.model_dump(exclude_unset=True),
                                                **updates})  # fmt: skip
    except ValidationError as exc:
        lines = error_lines(exc, type(section), prefix=f"{name}.")
        raise ConfigError("command-line flag(s) invalid:\n  " + "\n  ".join(lines)) from exc
    warn_inert_flags(name, section, flagged)  # `tune --method grid --trials 20` (probe55g)
    return flagged


def registered_name(given: str | None, config) -> str:
    """The registered model a registry command (`models`, `promote`) reads: `--name` when
    given, else registry.model_name. An empty or blank `--name` (`--name "$MODEL"` with
    MODEL unset) is refused: read as "not given", `promote 3 --name ""` moved the champion
    of registry.model_name, the model the flag was meant to leave alone (session 50)."""
    if given is None:
        return config.registry.model_name
    if not given.strip():
        raise ConfigError(
            f"--name is {given!r}: give a registered model name (see `fraud-app models`), "
            f"or leave --name out for registry.model_name ({config.registry.model_name!r}); "
            "nothing was changed"
        )
    problem = registered_name_problem(given)
    if problem is not None:  # `fraud?eu` was read as the model `fraud` in models:/ URIs
        raise ConfigError(f"--name {problem}; nothing was changed")
    return given
