"""`fraud-app dashboards`: (re)render the HTML pages from the saved reports and scores.

Exit status: 0 every section drawn; PARTIAL (3) the pages were written but some sections
were not drawn (a damaged Parquet file, test scores that are NaN or lack label /
fraud_score, an unreadable evaluation, scoring summary, data-check, ETL or feature table
report, a page or backtest report of another layout: each is a `warning: not drawn:` line
on stderr, control characters as escapes, and a note on its page), so a scheduler sees
that something was left out; 2 no page could be written (the CLI's error line)."""

from __future__ import annotations

import argparse
import sys

from dashboards.errors import DashboardError
from fraud_app.config import AppConfig
from fraud_app.errors import EmptyInputError
from fraud_app.redaction import shown_text

PARTIAL = 3  # pages written, some sections not drawn (documented in the CLI's epilog, README)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        help="only this run: a training run, or a backtest's --run name (its backtests/ page) "
        "(default: every run with a training report, and every backtest)",
    )


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
        # written as the logs are: a line quotes file and column names, whose ESC / BEL
        # reached the terminal as they are (a report named `evaluation-x<ESC>[2J.json`
        # cleared it); the log line of the same was already escaped
        print(f"warning: not drawn: {shown_text(line)}", file=sys.stderr)
    if unreadable:
        print(f"fraud-app: {len(unreadable)} section(s) not drawn (see the warnings); exit "
              f"status {PARTIAL}", file=sys.stderr)  # fmt: skip
        return PARTIAL
    return 0
