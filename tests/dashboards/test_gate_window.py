"""A window's last day the same wherever the model-quality page names it (session 50):
the registry section's `compared on` and the headline row of the same validation window.
The page's tables are read with html.parser (no browser)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from dashboards.render import render_run


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _rows(page: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(page)
    return parser.rows


def _edit(path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _compared_on(small_run) -> str:
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "model-quality.html").read_text(encoding="utf-8")
    return next(r[1] for r in _rows(page) if r and r[0].startswith("compared on"))


def test_the_gates_window_ends_on_its_last_day(small_run):
    """The gate records its window's bounds as dates, [start, end): the registry section
    said `2024-02-13 to 2024-02-18` where the headline row of the same validation window
    (train's evaluation file) says `2024-02-13 to 2024-02-17`."""
    training = small_run.reports / "training-r1.json"

    def validation_end(moment: str):
        _edit(training, lambda doc: doc["splits"]["windows"]["validation"].update(end=moment))

    validation_end("2024-02-18T00:00:00+00:00")  # as train writes it: midnight after the last day
    assert _compared_on(small_run) == "2024-02-13 to 2024-02-17"
    validation_end("2024-02-18T12:00:00+00:00")  # a fractional gap: its morning is in the window
    assert _compared_on(small_run) == "2024-02-13 to 2024-02-18"
    _edit(training, lambda doc: doc["splits"]["windows"]["validation"].pop("end"))
    assert _compared_on(small_run) == (  # no instant to tell: said as the gate records it
        "2024-02-13 up to the window's end on 2024-02-18 (that instant not included)"
    )


def test_the_gates_own_last_day_is_taken_as_it_recorded_it(small_run):
    """A decision that records its window's `last_day` (the gate's since the session 50
    review) is shown with it, without the training report's instant of the end."""
    training = small_run.reports / "training-r1.json"  # no instant of the end in it
    assert "end" not in json.loads(training.read_text())["splits"]["windows"]["validation"]
    _edit(training, lambda doc: doc["registry"]["window"].update(last_day="2024-02-17"))
    assert _compared_on(small_run) == "2024-02-13 to 2024-02-17"
