"""The promotion gate's window as its last day of rows (session 50 review): the reason,
the lines `train` / `run` print and the version's tags named the window's exclusive end
(the date of its end instant) as the last day compared, one day late beside the pages,
which name a window's days inclusively. `gate.window_end` keeps its value (read back by
trained_dates.registered_through); `last_day` and `gate.window_last_day` are added."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np

from fraud_app.config import load_config
from fraud_app.models.provenance import TRAINED_THROUGH
from fraud_app.tracking.registry import GateDecision, decision_tags
from pipelines.commands.run import _print_lifecycle
from pipelines.training import gate
from pipelines.training.trained_dates import registered_through

UTC = dt.UTC


def _w(start, end):
    return SimpleNamespace(start=start, end=end)


def test_the_windows_last_day_is_the_day_before_a_midnight_end():
    midnight = gate._window(
        _w(dt.datetime(2024, 2, 13, tzinfo=UTC), dt.datetime(2024, 2, 18, tzinfo=UTC))
    )
    assert midnight == {"start": "2024-02-13", "end": "2024-02-18", "last_day": "2024-02-17"}
    noon = gate._window(_w(None, dt.datetime(2024, 2, 18, 12, tzinfo=UTC)))  # its morning is in
    assert noon == {"start": "", "end": "2024-02-18", "last_day": "2024-02-18"}
    naive = gate._window(_w(dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1)))  # across a year
    assert naive["last_day"] == "2024-12-31"


def test_the_reason_without_a_fair_comparison_names_the_last_day():
    champion = SimpleNamespace(metadata={TRAINED_THROUGH: "2024-02-15T00:00:00+00:00"})
    day = np.array(["2024-02-14", "2024-02-15", "2024-02-17"], dtype="datetime64[D]")
    scores = {"label": np.array([0.0, 0.0, 0.0]), "event_date": day}
    unseen = (dt.date(2024, 2, 15), day >= np.datetime64("2024-02-15"))
    window = gate._window(
        _w(dt.datetime(2024, 2, 13, tzinfo=UTC), dt.datetime(2024, 2, 18, tzinfo=UTC))
    )
    reason = gate._no_fair_comparison("3", champion, unseen, window, scores)
    assert "the days from 2024-02-15 to 2024-02-17 hold 2 rows and 0 frauds" in reason


def test_the_tags_keep_the_end_and_add_the_last_day():
    window = gate._window(
        _w(dt.datetime(2024, 2, 13, tzinfo=UTC), dt.datetime(2024, 2, 18, tzinfo=UTC))
    )
    d = GateDecision("m", "2", "champion", 0.0, 0.5, None, None, window, "no champion")
    tags = decision_tags(d)
    assert (tags["gate.window_end"], tags["gate.window_last_day"]) == ("2024-02-18", "2024-02-17")
    # the reader of gate.window_end: the whole end date counts as trained on, as before
    assert registered_through(SimpleNamespace(tags=tags)) == "2024-02-19T00:00:00+00:00"


def test_the_printed_lines_name_the_last_day(tmp_path, capsys):
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    window = {"start": "2024-02-15", "end": "2024-02-18", "last_day": "2024-02-17",
              "champion_trained_through": "2024-02-15T00:00:00+00:00"}  # fmt: skip
    reg = {"name": "m", "version": "2", "decision": "challenger", "new_ap": 0.4,
           "champion_ap": 0.5, "champion_version": "1", "margin": 0.0, "window": window}  # fmt: skip
    _print_lifecycle({"registry": reg}, config)
    assert "; on 2024-02-15..2024-02-17 only: the champion trained" in capsys.readouterr().err
    undefined = {**reg, "new_ap": None, "champion_ap": None, "validation_ap_undefined": True,
                 "champion_version": None, "window": {**window, "start": "2024-02-13"}}  # fmt: skip
    _print_lifecycle({"registry": undefined}, config)
    assert "validation window 2024-02-13..2024-02-17)" in capsys.readouterr().err
    # a training report written before `last_day`: its end, as it printed
    old = {**undefined, "window": {"start": "2024-02-13", "end": "2024-02-18"}}
    _print_lifecycle({"registry": old}, config)
    assert "validation window 2024-02-13..2024-02-18)" in capsys.readouterr().err
