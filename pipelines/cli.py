"""`fraud-app` command line: one subcommand per workflow step, all reading one config file.

Every command lives in `pipelines/commands/<name>.py` (the top of the house: commands
compose fraud_app steps, and dependencies point one way, pipelines -> fraud_app -> dlcore).
A command module exposes `add_arguments(parser)` and `run(args, config) -> int`; COMMANDS
lists them. The CLI is the only place that configures logging and prints.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fraud_app import settings
from fraud_app.config import load_config
from fraud_app.errors import FraudAppError

# name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("pipelines.commands.generate", "write synthetic raw card transactions"),
    "etl": ("pipelines.commands.etl", "raw files -> canonical Parquet + quarantine"),
    "validate": ("pipelines.commands.validate", "data checks (Great Expectations) + reports"),
    "features": ("pipelines.commands.features", "canonical table -> point-in-time feature table"),
    "train": (
        "pipelines.commands.train",
        "feature table -> balanced subsets -> distributed ensemble + report",
    ),
    "run": ("pipelines.commands.run", "the whole workflow: [generate] etl validate features train"),
    "score": ("pipelines.commands.score", "batch scoring of a date or date range -> scores/"),
    "evaluate": (
        "pipelines.commands.evaluate",
        "a model on any window: AUC, AP, budgets, card P@k",
    ),
    "demo-train": ("pipelines.commands.demo_train", "train a small dlcore MLP on a generated task"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud-app", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help="YAML config file (default: built-in defaults)")
    parser.add_argument("--master", help="Spark master URL (overrides spark.master in the config)")
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING (default: env FRAUD_APP_LOG_LEVEL or INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or settings.log_level()).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {"spark.master": args.master} if args.master else {}
    try:
        config = load_config(args.config, overrides)
        return int(importlib.import_module(args._module).run(args, config) or 0)
    except FraudAppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
