"""Score thresholds keep their digits (session 50): 4 decimals wrote a threshold below
0.0001 as 0.0000 (as if every row were alerted) and made 0.00041 and 0.00038 read the
same. The threshold table is read back with html.parser (no browser) and checked
against a pandas recompute: per UTC day the top ceil(budget x rows of the day) scores;
the threshold is the lowest alerted score."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import pandas as pd
import pytest

from dashboards.html import fmt_score
from dashboards.render import render_run


class _Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _threshold(df: pd.DataFrame, budget: float) -> float:
    day = df["timestamp"].dt.tz_convert("UTC").dt.date
    alerted = [
        g.nlargest(math.ceil(budget * len(g)), "fraud_score")["fraud_score"]
        for _, g in df.groupby(day)
    ]
    return float(pd.concat(alerted).min())


def test_small_thresholds_keep_three_significant_digits(small_run):
    path = small_run.scores / "r1" / "part-00000.parquet"
    df = pd.read_parquet(path)
    scored = [c for c in df.columns if c == "fraud_score" or c.startswith(("member_", "baseline_"))]
    df[scored] = (
        df[scored] * 1e-3
    )  # a model whose scores are all small (a drifted day, no balancing)
    df.to_parquet(path, index=False)
    render_run(small_run, "r1")
    parser = _Rows()
    parser.feed((small_run.output / "r1" / "model-quality.html").read_text(encoding="utf-8"))
    table = next(t for t in parser.tables if t[0][0] == "alert budget (% of rows)")
    column = table[0].index("score threshold")
    shown = {row[0]: row[column] for row in table[1:]}
    assert len(shown) == 5
    for budget_text, cell in shown.items():
        expected = _threshold(df, float(budget_text.rstrip("%")) / 100)
        assert expected < 0.001 and cell != "0.0000"
        assert float(cell) == pytest.approx(expected, rel=5e-3), budget_text
    assert len(set(shown.values())) == len({round(float(v), 12) for v in shown.values()})


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.4647139, "0.4647"), (0.00041, "0.000410"), (0.00038, "0.000380"),
     (3.012e-05, "0.0000301"), (0.0, "0.0000"), (None, "-"), (1e-300, "1.00e-300"),
     ("x", "x"), (float("nan"), "-")],
)  # fmt: skip
def test_fmt_score(value, text):
    assert fmt_score(value) == text
