"""`fraud-app tune`: grid / random search of the training config on validation AP."""

from __future__ import annotations

import argparse
from typing import Any

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from pipelines.commands._overrides import with_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        help="run name, names reports/tune-<run>.json and tune-<run>-best.yaml (default: UTC "
        "timestamp); a name whose report or best config exists is refused unless --replace",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the report and best config of an earlier tune of this --run "
        "(or an existing --output file)",
    )
    p.add_argument("--method", choices=["grid", "random"], help="tune.method")
    p.add_argument("--trials", type=int, help="random search: number of trials (tune.trials)")
    p.add_argument("--seed", type=int, help="random search seed (tune.seed)")
    p.add_argument("--output", help="where to write the best config YAML (tune.output)")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.spark.session import spark_session
    from pipelines.commands.train import check_features_exist
    from pipelines.tune.pipeline import check_output, claimed_run, run_tune
    from pipelines.tune.space import plan

    cfg = with_flags(config.tune, "tune", method=args.method, trials=args.trials, seed=args.seed,
                     output=args.output)  # fmt: skip
    if cfg.method == "grid" and (args.trials is not None or args.seed is not None):
        # the grid ignored them: `tune --trials 3` on a grid config trained every combination
        flag = "--trials" if args.trials is not None else "--seed"
        source = "--method grid" if args.method == "grid" else "tune.method is grid"
        raise ConfigError(
            f"{flag} applies to random search, but {source} (every combination of "
            f"tune.space is trained); {_remedy(args, flag)}"
        )
    check_output(cfg)  # before the JVM starts (run_tune checks it again for the Python API)
    # the name free and not held by a running tune (taken and given back: run_tune holds it)
    with claimed_run(config, cfg, args.run, replace=args.replace):
        pass
    # a bad tune.space too (it was found after Spark had started)
    cfg, points = plan(config, cfg)
    check_features_exist(config)
    spark = spark_session(config)
    report = run_tune(spark, config, cfg, run=args.run, replace=args.replace, points=points)
    print("\n".join(summary_lines(report)))
    return 0


def _remedy(args: argparse.Namespace, flag: str) -> str:
    if args.method == "grid":
        return f"use --method random, or leave out {flag}"
    return f"add --method random, or leave out {flag}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What `fraud-app tune` prints at its end: one line per trial (its validation AP, or
    FAILED with the error; a trial reused from a stopped tune says so), the best trial, and
    where the best config, the report and the trials journal are."""
    from pipelines.tune.pipeline import format_ap

    lines = []
    for t in report["trials"]:
        params = jsonout.dumps(t["params"], indent=None)
        if "error" in t:
            lines.append(f"trial {t['trial']:>3}  FAILED ({t['error']})  {params}")
            continue
        ap = format_ap(t["validation"]["average_precision"])
        note = "  (reused: finished by an earlier, stopped tune)" if "reused_from" in t else ""
        lines.append(f"trial {t['trial']:>3}  validation AP {ap}  {params}{note}")
    best = report["best"]
    lines.append(f"best: trial {best['trial']} (validation AP "
                 f"{format_ap(best['validation']['average_precision'])})")  # fmt: skip
    lines.append(f"best config: {report['best_config']}")
    lines.append(f"report: {report['report_path']}")
    lines.append(f"trials: {report['trials_journal']} ({report['reused']} reused, "
                 f"{report['failed']} failed)")  # fmt: skip
    return lines
