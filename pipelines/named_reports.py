"""The report files a `backtest --run NAME` or `tune --run NAME` writes, and whether it may.

A run name owns its files (`reports/backtest-<run>.json`; `reports/tune-<run>.json` and
the best config, `reports/tune-<run>-best.yaml` or `tune.output`). As for `train --run`
and `evaluate --name`:

- an existing file is never replaced silently: ReportExistsError naming it and the flag
  (`--replace`), checked before Spark starts and again when writing, which creates the
  file exclusively (temporary file + hard link: a reader sees no file or the whole one);
- a name left out is the UTC time to the second, with `-2`, `-3`, ... when a file of that
  name exists (two scheduled runs started in the same second wrote one report).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraud_app import jsonout
from fraud_app.errors import ConcurrentRunError, ReportExistsError
from fraud_app.naming import MAX_SUFFIX, check_name, stamped_names, utc_stamp


def existing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


def refuse_existing(command: str, run: str, paths: list[Path]) -> None:
    """ReportExistsError when any of `paths` (the run's outputs) exists."""
    found = existing(paths)
    if found:
        raise ReportExistsError(
            f"{command} run {run!r} already exists ({', '.join(map(str, found))}); running it "
            "again would replace its results. Give a new --run name (or leave --run out: a "
            "UTC timestamp), or pass --replace to replace them"
        )


def pick_run(
    command: str,
    run: str | None,
    outputs: Callable[[str], list[Path]],
    *,
    replace: bool = False,
) -> str:
    """The run name to use: `run` (checked: a plain name whose outputs do not exist unless
    `replace`), or the first free of the UTC stamp, stamp-2, ..."""
    if run:
        check_name(run, "run name")
        if not replace:
            refuse_existing(command, run, outputs(run))
        return run
    stamp = utc_stamp()
    for name in stamped_names(stamp):
        if not existing(outputs(name)):
            return name
    raise ConcurrentRunError(
        f"no free {command} run name {stamp}-2 .. -{MAX_SUFFIX}; pass --run NAME"
    )


def write_output(
    path: Path, text: str, *, command: str, run: str, replace: bool, private: bool = False
) -> Path:
    """Write `text` at `path`: replaced atomically when `replace`, else created only if it
    does not exist (another process that took the name meanwhile: ReportExistsError).
    `private`: readable by its owner only (0600) from its first byte (jsonout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        return jsonout.write_atomic(path, text, private=private)
    if not jsonout.write_new(path, text, private=private):
        refuse_existing(command, run, [path])
    return path
