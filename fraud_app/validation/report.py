"""ValidationReport: the outcome of one suite, saved as JSON and a self-contained HTML
page (inline CSS, no scripts or external assets), and turned into
ValidationFailedError when an error-severity check failed."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from fraud_app import jsonout
from fraud_app.errors import ValidationFailedError
from fraud_app.naming import check_name
from fraud_app.validation.runner import CheckResult


@dataclass(frozen=True)
class ValidationReport:
    suite: str
    table: str  # what was validated (a path or a description)
    checked_at: str  # ISO-8601 UTC
    results: tuple[CheckResult, ...]
    json_path: str | None = None
    html_path: str | None = None
    run: str | None = None  # the run name in the report's file names

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(success=self.success, n_errors=len(self.errors), n_warnings=len(self.warnings))
        return d

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationFailedError(failure_message(self))

    def save(self, directory: str | Path, run: str | None = None) -> ValidationReport:
        """Write `<suite>_validation-<run>.json` and `.html` into `directory` (never over an
        earlier run's report); `run` None = the UTC time checked. Returns it with paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        run = check_run_name(run) if run else _stamp(self.checked_at)
        # the JSON's name is claimed (created only where no file is): an exists() test and
        # then a write let concurrent validations of one run name (the default: the second
        # they checked) write over each other, and pair one's JSON with another's page
        # (6 at once kept 1-2 reports, review48b)
        for n in itertools.count(1):
            base = f"{self.suite}_validation-{run}" + (f"-{n}" if n > 1 else "")
            json_path, html_path = out / f"{base}.json", out / f"{base}.html"
            if json_path.exists() or html_path.exists():
                continue
            saved = replace(self, json_path=str(json_path), html_path=str(html_path), run=run)
            text = jsonout.dumps(saved.to_dict(), indent=2, default=str)
            if jsonout.write_new(json_path, text):
                break
        # UTF-8, as the page declares, whole or not at all: `write_text` used the locale's
        # encoding (a non-ASCII table or column under an ASCII / Latin-1 locale: a
        # UnicodeEncodeError after the JSON was written, or a mis-encoded page) and a kill
        # mid-write left a cut page
        jsonout.write_atomic(html_path, render_html(saved))
        return saved


def check_run_name(run: str) -> str:
    return check_name(run, "validation run name")


def _stamp(checked_at: str) -> str:
    return dt.datetime.fromisoformat(checked_at).strftime("%Y%m%dT%H%M%SZ")


def describe(r: CheckResult) -> str:
    """One line: the check, what was observed, what was expected, which setting changes it."""
    where = f"column '{r.column}'" if r.column else "the table"
    text = f"{r.name} ({r.expectation} on {where})"
    if r.error:
        return f"{text}: could not run: {r.error}"
    observed = []
    if r.unexpected_count is not None:
        pct = f" ({r.unexpected_percent:.2f}%)" if r.unexpected_percent is not None else ""
        observed.append(f"{r.unexpected_count} unexpected row(s){pct}")
    if r.observed is not None:
        observed.append(str(r.observed))
    text += f": observed {', '.join(observed) or 'a failure'}"
    if r.expected:
        text += f"; expected {r.expected}"
    if r.examples:
        shown = "; ".join(", ".join(f"{k}={v}" for k, v in e.items()) for e in r.examples)
        text += f"; e.g. {shown}"
    if r.setting:
        text += f"; setting: {r.setting}"
    return text


def failure_message(report: ValidationReport) -> str:
    lines = [
        f"{report.suite} validation of {report.table}: "
        f"{len(report.errors)} error-severity check(s) failed:"
    ]
    lines += [f"  - {describe(r)}" for r in report.errors]
    lines.append(
        f"A check can be made a warning under validation.{report.suite}.severities"
        if report.suite == "canonical"
        else "A feature check's severity is set under validation.features.columns.<name>"
        ".severity or validation.features.default_severity"
    )
    if report.html_path:
        lines.append(f"Full report: {report.html_path}")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0} tr.fail-error{background:#fde2e2} tr.fail-warning{background:#fff4d6}
tr.pass{background:#eef8ee} code{font-size:12px}
"""


_HEADINGS = ("check", "column", "expectation", "severity", "result", "observed", "expected",
             "setting", "unexpected", "examples")  # fmt: skip


def render_html(report: ValidationReport) -> str:
    esc = html.escape
    status = "PASSED" if report.success else "FAILED"
    rows = [_row_html(r) for r in report.results]
    head = "".join(f"<th>{h}</th>" for h in _HEADINGS)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(report.suite)} validation</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{esc(report.suite)} validation: {status}</h1>"
        f"<p>Table: <code>{esc(report.table)}</code><br>Checked at: {esc(report.checked_at)}<br>"
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{len(report.results)} checks</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>\n"
    )


def _row_html(r: CheckResult) -> str:
    """One check's table row, coloured by its result (pass / fail-error / fail-warning)."""
    esc = html.escape
    cls = "pass" if r.success else f"fail-{r.severity}"
    detail = r.error or (
        f"{r.unexpected_count} unexpected ({r.unexpected_percent or 0:.2f}%)"
        if r.unexpected_count is not None
        else ""
    )
    examples = "<br>".join(esc(json.dumps(e, default=str)) for e in r.examples)
    cells = [
        esc(r.name),
        esc(r.column or ""),
        f"<code>{esc(r.expectation)}</code>",
        esc(r.severity),
        "pass" if r.success else "FAIL",
        esc(r.observed or ""),
        esc(r.expected),
        esc(r.setting),
        esc(detail),
        examples,
    ]
    return f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
