"""`fraud-app dashboards`: (re)render the HTML pages from the saved reports and scores."""

from __future__ import annotations

import argparse
import sys

from dashboards.errors import DashboardError
from fraud_app.config import AppConfig
from fraud_app.errors import EmptyInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="only this run (default: every run with a training report)")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from pipelines.reporting import index_path, render_dashboards

    unreadable: list[str] = []
    try:
        written = render_dashboards(config, args.run, unreadable=unreadable)
    except DashboardError as exc:
        raise EmptyInputError(str(exc)) from exc
    pages = [p for p in written if p.suffix == ".html"]
    print(f"fraud-app: {len(pages)} dashboard pages written; open {index_path(config).resolve()}")
    for line in unreadable:  # its sections show the error; the rest is drawn
        print(f"warning: not drawn: {line}", file=sys.stderr)
    return 0
