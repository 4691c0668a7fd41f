"""A backtest report's summary (mean +- std per model and metric over the folds) and its
terminal table. The folds themselves are run by pipelines.backtest.pipeline."""

from __future__ import annotations

import logging
import math
from typing import Any

from fraud_app.evaluation.ranking import mean_std

logger = logging.getLogger(__name__)

METRICS = ("roc_auc", "average_precision", "recall_at_budget", "card_precision_at_k")
# each metric's column heading and width in the terminal table (and its name in its notes)
LABELS = ("ROC AUC", "AP", "recall@budget", "CP@k")
WIDTHS = (8, 7, 14, 7)


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model, each metric's mean and std over the folds; whether every fold's leakage
    check passed."""
    out: dict[str, Any] = {}
    for model in results[0]["models"] if results else ():
        out[model] = {m: mean_std([r["models"][model][m] for r in results]) for m in METRICS}
    out["leakage_checks_ok"] = all(r["leakage_check"]["ok"] for r in results)
    return out


def format_table(report: dict[str, Any]) -> str:
    """The terminal table: one line per fold and model, then mean +- std. A metric that is
    undefined (a test window without fraud: NaN, or None) shows as `undef` (it printed `nan`,
    and a None stopped the command with a TypeError after every fold had trained)."""
    head = f"{'fold':>5} {'model':<9} " + " ".join(
        f"{label:>{width}}" for label, width in zip(LABELS, WIDTHS, strict=True)
    )
    lines = [*windows_table(report), head, "-" * len(head)]
    undefined = False

    def cell(value, width: int) -> str:
        nonlocal undefined
        if isinstance(value, int | float) and math.isfinite(value):
            return f"{value:{width}.4f}"
        undefined = True
        return f"{'undef':>{width}}"

    for r in report["folds"]:
        for model, m in r["models"].items():
            cells = [cell(m[k], width) for k, width in zip(METRICS, WIDTHS, strict=True)]
            lines.append(f"{r['fold']:>5} {model:<9} " + " ".join(cells))
    lines.append("-" * len(head))
    for model, s in report["summary"].items():
        if model == "leakage_checks_ok":
            continue
        cells = [f"{cell(s[m]['mean'], 0)}+-{cell(s[m]['std'], 0)}" for m in METRICS]
        lines.append(f"{'mean':>5} {model:<9} " + "  ".join(cells))
    lines.append(f"leakage checks: {'ok' if report['summary']['leakage_checks_ok'] else 'FAILED'}")
    if undefined:
        fewer = _fewer_folds(report)
        lines.append("undef: undefined, the test window holds no fraud (or only frauds); the "
                     "means leave such folds out" + (f" ({fewer})" if fewer else ""))  # fmt: skip
    return "\n".join(lines)


def _fewer_folds(report: dict[str, Any]) -> str:
    """The means that leave folds out, with how many they are over ('ensemble AP: 1 of 4
    folds'); the summary's `folds` (absent in reports before session 48: nothing said)."""
    total, out = len(report["folds"]), []
    for model, s in report["summary"].items():
        if model == "leakage_checks_ok":
            continue
        for m, label in zip(METRICS, LABELS, strict=True):
            n = s[m].get("folds")
            if isinstance(n, int) and n < total:
                out.append(f"{model} {label}: {n} of {total} folds")
    return ", ".join(out)


def leakage_error(report: dict[str, Any]) -> str | None:
    """The `error:` line of a backtest whose leakage check failed in a fold (None: every
    fold passed): the folds, what each trained on past its cut-off and what to change. The
    command exited 1, the code of a bug, after `leakage checks: FAILED` naming no cause."""
    failed = [r for r in report.get("folds") or () if not r["leakage_check"]["ok"]]
    if not failed:
        return None
    causes = []
    for r in failed:
        check = r["leakage_check"]
        cut = _instant(check.get("cutoff"))
        past = [
            words
            for key, words in (
                ("max_timestamp", "rows dated"),
                ("max_fraud_label_known_at", "fraud labels known"),
                ("max_label_settled_at", "labels settled"),
            )
            if cut is not None
            and (t := _instant(check.get(key))) is not None
            and (t >= cut if key == "max_timestamp" else t > cut)
        ]
        causes.append(
            f"fold {r['fold']} (cut-off {check.get('cutoff')}): "
            f"{', '.join(past) or 'no rows'}{' after it' if past else ''}"
        )
    settled = any("labels settled" in c for c in causes)
    advice = (
        " (rows within the label delay of the cut-off: backtest.test_gap_days is below "
        "features.label_delay_days; set --test-gap-days to the label delay or more, or leave "
        "backtest.test_gap_days null)"
        if settled
        else ""
    )
    return (
        f"backtest {report.get('run')}: the leakage check failed in {len(failed)} of "
        f"{len(report['folds'])} fold(s): {'; '.join(causes)}{advice}. Its figures are not "
        "those of models that knew only what was known at each cut-off; the report "
        f"{report.get('report_path')} holds them with each fold's leakage_check"
    )


def _instant(iso: Any):
    """An ISO time of the report as a datetime (None for none or another value)."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso) if isinstance(iso, str) else None
    except ValueError:
        return None


WINDOWS = ("train", "validation", "test")


def windows_table(report: dict[str, Any]) -> list[str]:
    """Per fold and window: the configured [start, end) and the data it held (its first
    and last row's time, its rows). Nothing for folds without windows (a report cut
    short); `-` for the data of a report written before `covered` (session 49)."""
    folds = [r for r in report.get("folds") or () if r.get("windows")]
    if not folds:
        return []
    head = (f"{'fold':>5} {'window':<10} {'configured [start, end) UTC':<36} "
            f"{'data: first .. last row':<36} {'rows':>9}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in folds:
        w, covered = r["windows"], r.get("covered") or {}
        for name in WINDOWS:
            start = w.get(f"{name}_start")
            configured = (
                f"{_minute(start) if start else 'first row':<16} .. {_minute(w.get(f'{name}_end'))}"
            )
            held = covered.get(name)
            if not held:
                data, rows = "-", "-"
            elif not held.get("rows"):
                data, rows = "no rows", "0"
            else:
                data = f"{_minute(held.get('first'))} .. {_minute(held.get('last'))}"
                rows = str(held["rows"])
            lines.append(f"{r['fold']:>5} {name:<10} {configured:<36} {data:<36} {rows:>9}")
    lines.append("")
    return lines


def _minute(iso: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM` (what the table has room for); `-` for none."""
    if not isinstance(iso, str) or len(iso) < 16:
        return "-" if not iso else str(iso)
    return f"{iso[:10]} {iso[11:16]}"


def warn_ties_over_budget(fold: int, models: dict[str, dict[str, Any]], budget: float) -> None:
    """One WARNING per model of the fold whose daily budget alerted more rows than it allows:
    rows tied at a day's cut-off score are all in (README "Ranking figures"), so its
    `recall_at_budget` counts frauds among more alerts than the other model's may (a model
    of few distinct scores, such as the GBT baseline)."""
    for model, m in models.items():
        alerts, quota = m.get("alerts_at_budget"), m.get("alert_quota")
        if isinstance(alerts, int) and isinstance(quota, int) and alerts > quota > 0:
            logger.warning(
                "backtest fold %d: %s alerted %d rows at the daily alert budget %g, which "
                "allows %d (each day's ceil(budget x rows)): %d row(s) tied at a day's cut-off "
                "score are all in, so its recall_at_budget is that of %.1f%% more alerts "
                "than the budget's", fold, model, alerts, budget, quota, alerts - quota,
                100.0 * (alerts - quota) / quota,
            )  # fmt: skip
