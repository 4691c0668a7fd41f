"""The `fraud-app` entry point: fraud_app's step commands plus the workflow commands defined here.

Lives in pipelines/ because `train` and `run` compose fraud_app steps, and
dependencies point one way (pipelines -> fraud_app -> dlcore).
"""

from __future__ import annotations

import sys

from fraud_app import cli

COMMANDS = {
    **cli.COMMANDS,
    "train": (
        "pipelines.commands.train",
        "feature table -> balanced subsets -> distributed ensemble + report",
    ),
    "run": ("pipelines.commands.run", "the whole workflow: [generate] etl validate features train"),
}


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, commands=COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
