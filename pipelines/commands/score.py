"""`fraud-app score`: the batch job, transactions of a date or a date range -> scores partitions."""

from __future__ import annotations

import argparse
import datetime as dt

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.schema import calendar_date, week_advice


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", help="score one date, YYYY-MM-DD (UTC)")
    p.add_argument("--start", help="first date of a range, YYYY-MM-DD (inclusive)")
    p.add_argument("--end", help="last date of a range, YYYY-MM-DD (inclusive)")
    p.add_argument("--model", help="registry URI or ensemble directory (default: scoring.model)")
    p.add_argument("--job-id", help="names the summary JSON (default: UTC timestamp + random)")


def parse_date(value: str, flag: str) -> dt.date:
    try:
        return calendar_date(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{flag} must be a date like 2024-02-25 (UTC). Received: {value!r}{week_advice(value)}"
        ) from None


def date_range(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    if args.date and (args.start or args.end):
        raise ConfigError("give either --date or --start/--end, not both")
    if args.date:
        day = parse_date(args.date, "--date")
        return day, day
    if not (args.start and args.end):
        raise ConfigError("give --date D, or --start S and --end E (inclusive dates)")
    return parse_date(args.start, "--start"), parse_date(args.end, "--end")


def check_model_source(uri: str, config: AppConfig) -> None:
    """Before the JVM starts (about a minute on a busy node): a model that cannot be loaded
    is named at once, with the error the job would give after Spark started (a directory
    without ensemble.json, a registry URI with tracking off, a sqlite store that does not
    exist, an unknown model, version, alias or stage)."""
    from fraud_app.scoring.model_source import check_source

    check_source(uri, config)


def check_output_dir(config: AppConfig) -> None:
    """Before the JVM starts: a local scores folder this user cannot create or write (a
    read-only mount, a path under a file) is named with the setting it came from. It was
    found after Spark had started and the model loaded (about four minutes on a busy node),
    as `cannot create the output root ...: Set paths.root to a writable directory`, even
    when scoring.output had named it."""
    import os

    from fraud_app.uris import local_path

    output, setting = config.scores_output()
    path = local_path(output)
    if path is None:  # remote storage: Spark checks it
        return
    # nothing is created here (a folder inside a table is refused later, before anything
    # is written): the path, or its nearest existing parent, must be a writable directory
    near = path
    while not near.exists() and near.parent != near:
        near = near.parent
    if not near.is_dir():
        problem = f"{near} is not a directory" if near != path else "not a directory"
    elif not os.access(near, os.W_OK | os.X_OK):
        problem = "read-only file system" if _read_only(near) else "not writable by this user"
        problem += "" if near == path else f" ({near})"
    else:
        return
    raise ConfigError(
        f"{setting} {output} cannot take the scores: {problem}; give {setting} a directory "
        "this user can write"
    )


def check_dates_present(config: AppConfig, start: dt.date, end: dt.date) -> None:
    """Before the JVM starts: a local canonical table (published: _SUCCESS) none of whose
    date partitions falls in start..end is named at once, with the job's own error. The
    job found it after Spark had started and the model loaded (about four minutes on a
    busy node). Anything else (remote storage, a table being written, a date partition
    without rows) is left to the job."""
    refuse_dates_absent(
        config.canonical_table(), start, end, "transactions", "the canonical table",
        "pick dates inside that range, or run `fraud-app etl` on new files",
    )  # fmt: skip


def refuse_dates_absent(table, start, end, rows: str, what: str, advice: str) -> None:
    """EmptyInputError when the local table `table` (`what`) has published date partitions
    and none falls in start..end: `no <rows> dated S..E in <what> T (it holds A..B):
    <advice>`; nothing when it has none (left to the job) or one in the window."""
    from fraud_app.errors import EmptyInputError

    days = published_days(table)
    if not days or any(start <= day <= end for day in days):
        return
    raise EmptyInputError(
        f"no {rows} dated {start}..{end} in {what} {table} (it holds "
        f"{min(days)}..{max(days)}): {advice}"
    )


def published_days(table) -> list[dt.date]:
    """The dates of a local published table's (`_SUCCESS`) date partitions, from the folder
    names alone; [] for remote storage or a table not published (left to the job)."""
    from fraud_app.schema import partition_value
    from fraud_app.uris import local_path

    path = local_path(table)
    if path is None or not (path / "_SUCCESS").is_file():
        return []
    days = []
    for child in path.iterdir():
        value = partition_value(child.name)
        if value is not None and child.is_dir():
            try:
                days.append(dt.date.fromisoformat(value))
            except ValueError:
                continue
    return days


def _read_only(path) -> bool:
    import os

    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.scoring.job import check_range, run_scoring
    from fraud_app.spark.session import spark_session

    start, end = date_range(args)
    check_range(start, end)  # before the JVM starts
    if args.model is not None and not args.model.strip():  # it scored with scoring.model
        raise ConfigError(
            "--model is empty; give a registry URI (models:/fraud-ensemble@champion) or an "
            "ensemble directory, or leave --model out to use scoring.model"
        )
    check_output_dir(config)
    check_dates_present(config, start, end)
    check_model_source(args.model or config.scoring.model, config)
    spark = spark_session(config)
    result = run_scoring(
        spark, config, start=start, end=end, model_uri=args.model, job_id=args.job_id
    )
    from pipelines.reporting import index_path, render_dashboards_safely

    dashboards = render_dashboards_safely(config, scoring_summary=result.summary)
    dates = result.summary["dates"]
    print(jsonout.dumps({
        "job_id": result.job_id, "summary": result.summary_path,
        "model": f"{result.summary['model_name']} v{result.summary['model_version']}",
        "dates": [{"date": d["date"], "rows": d["rows"], "alerts": d["alerts"]} for d in dates],
        "dates_without_rows": result.summary["dates_without_rows"],
        # rows scored null (NaN / inf features, scoring.nonfinite: null): never alerted
        "null_scores": {d["date"]: d["null_scores"] for d in dates if d.get("null_scores")},
        # dates scored earlier whose canonical rows grew since (late rows: no score yet)
        "unscored_dates": {day: v["unscored_rows"] for day, v in
                           result.summary["unscored_dates"].items()},
        "out_of_range": {name: v["rows"] for name, v in
                         (result.summary.get("out_of_range") or {}).items()},
        # the incomplete dates in the history the window features read (fraud_app.timeline)
        "incomplete_history_dates": [
            d["date"] for d in (result.summary.get("history") or {}).get("incomplete_dates", [])
        ],
        # optional input columns that lost their values (fraud_app.scoring.input_fill)
        "emptied_inputs": {column: list(v["dates"]) for column, v in
                           (result.summary.get("emptied_inputs") or {}).items()},
        "partitions": list(result.partitions),
        "dashboards": str(index_path(config)) if dashboards else None,
    }, indent=2))  # fmt: skip
    return 0
