"""The README documents the CLI `fraud-app --help` shows: every command, and every flag of
each command in its row of the flags table (a flag added without a word in the README, or
a documented flag that no longer exists, fails here)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipelines.cli import COMMANDS, build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


GLOBAL = {"--help", "--config", "--master", "--env-archive", "--log-level"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags_rows() -> dict[str, str]:
    """command -> its row in the README's flags table (`| `train`, `run` | ... |`)."""
    table = README.split("| command | flags", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        head, _, rest = line.strip("|").partition("|")
        for name in re.findall(r"`([a-z-]+)(?: [A-Z]+)?`", head):
            rows[name] = rest
    return rows


def test_every_command_has_a_row_in_the_command_table():
    for name in COMMANDS:
        assert re.search(rf"^\| `{re.escape(name)}( [^`]*)?` \|", README, re.M), name


def test_every_flag_is_in_its_commands_row_and_every_documented_flag_exists():
    rows = _flags_rows()
    for name, sub in _subparsers().items():
        flags = {o for a in sub._actions for o in a.option_strings if o.startswith("--")}
        flags -= GLOBAL  # documented once, in the usage line
        if not flags:
            continue
        assert name in rows, f"{name}: no row in the README's flags table"
        documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rows[name]))
        assert flags - documented == set(), f"{name}: flags missing from the README"
        assert documented - flags == set(), f"{name}: README names flags it does not have"


def test_every_global_option_is_in_the_usage_line():
    usage = README.split("## CLI", 1)[1].split("```", 2)[1]
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--version"):
                assert option in usage, option


def test_global_options_may_follow_the_command():
    # `fraud-app etl -c prod.yaml` was "unrecognized arguments: -c prod.yaml"
    parser = build_parser()
    args = parser.parse_args(["etl", "-c", "prod.yaml", "--master", "local[2]"])
    assert (args.config, args.master, args.log_level) == ("prod.yaml", "local[2]", None)
    args = parser.parse_args(["--log-level", "DEBUG", "-c", "a.yaml", "etl", "--mode", "append"])
    assert (args.config, args.log_level, args.mode) == ("a.yaml", "DEBUG", "append")
    assert parser.parse_args(["-c", "a.yaml", "etl", "-c", "b.yaml"]).config == "b.yaml"


def test_every_positional_argument_is_shown_as_the_readme_names_it():
    # walk55: `fraud-app promote --help` showed `version`, `evaluate` `model`, `init`
    # `directory`, `pack-env` `output`, `inspect` `path`, where the README (and the usage of
    # export-onnx / import-onnx / labels) names them VERSION, MODEL, DIR, OUT.tar.gz, PATH
    for name, sub in _subparsers().items():
        shown = [a.metavar or a.dest for a in sub._actions if not a.option_strings]
        if not shown:
            continue
        assert f"`{name} {' '.join(shown)}" in README, (name, shown)
