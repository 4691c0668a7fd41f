"""Strict JSON for reports and CLI summaries: no NaN / Infinity tokens, ever."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from fraud_app import jsonout


def _strict_loads(text: str):
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null_at_any_depth():
    report = {
        "test": {"roc_auc": math.nan, "average_precision": float("inf"), "rows": 10},
        "history": [{"ap": -math.inf}, (1.5, math.nan)],
        "numpy": {"f64": np.float64("nan"), "f32": np.float32("inf"), "ok": np.float32(0.25)},
    }
    text = jsonout.dumps(report)
    assert "NaN" not in text and "Infinity" not in text
    back = _strict_loads(text)
    assert back["test"] == {"roc_auc": None, "average_precision": None, "rows": 10}
    assert back["history"] == [{"ap": None}, [1.5, None]]
    assert back["numpy"] == {"f64": None, "f32": None, "ok": 0.25}


def test_numpy_values_are_numbers_and_lists_not_strings():
    value = {"n": np.int64(7), "flag": np.bool_(True), "arr": np.array([1.0, np.nan, 2.0])}
    back = _strict_loads(jsonout.dumps(value, default=str))
    assert back == {"n": 7, "flag": True, "arr": [1.0, None, 2.0]}


def test_default_still_handles_other_types_and_finite_values_round_trip():
    value = {"when": dt.date(2026, 1, 2), "path": Path("/tmp/x"), "x": 0.1 + 0.2}
    back = _strict_loads(jsonout.dumps(value, indent=None, default=str))
    assert back == {"when": "2026-01-02", "path": "/tmp/x", "x": 0.1 + 0.2}
    with pytest.raises(TypeError):
        jsonout.dumps({"when": dt.date(2026, 1, 2)})  # no default: refused as json refuses it


def test_plain_json_would_write_nan():
    """The reason the module exists (a test of the premise, not of our code)."""
    with pytest.raises(ValueError):
        _strict_loads(json.dumps({"x": math.nan}))


def test_an_evaluation_of_a_window_without_frauds_is_strict_json():
    """The case users met: ROC AUC, AP and recall are undefined without frauds."""
    from fraud_app.scoring.evaluation import evaluation_report

    report = evaluation_report(
        labels=np.zeros(40),
        scores=np.linspace(0.0, 1.0, 40),
        days=np.array(["2026-01-01"] * 20 + ["2026-01-02"] * 20),
        cards=np.arange(40).astype(str),
        patterns=None,
        budgets=(0.1,),
        card_k=5,
        pattern_budget=0.1,
    )
    assert math.isnan(report["roc_auc"])  # the figure itself stays NaN in Python
    back = _strict_loads(jsonout.dumps(report))
    assert back["roc_auc"] is None and back["average_precision"] is None
    assert back["alert_budgets"][0]["recall"] is None
    assert back["alert_budgets"][0]["precision"] == 0.0


def test_write_atomic_replaces_the_file_whole(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"old": 1}')
    assert jsonout.write_atomic(path, jsonout.dumps({"new": 2})) == path
    assert json.loads(path.read_text()) == {"new": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


def test_write_atomic_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    # A write that fails half way (here: text that cannot be encoded, after some that can)
    # must leave the reader the previous report, not a truncated one.
    path = tmp_path / "report.json"
    path.write_text('{"old": 1}')
    with pytest.raises(UnicodeEncodeError):
        jsonout.write_atomic(path, '{"new": "' + "x" * 100_000 + "\ud800" + '"}')
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_new_creates_once_and_never_replaces(tmp_path):
    path = tmp_path / "report.json"
    assert jsonout.write_new(path, jsonout.dumps({"first": 1})) is True
    assert jsonout.write_new(path, jsonout.dumps({"second": 2})) is False
    assert json.loads(path.read_text()) == {"first": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


@pytest.mark.parametrize("writer", ["write_atomic", "write_new"])
def test_the_file_is_on_the_disk_before_its_name(tmp_path, monkeypatch, writer) -> None:
    """Session 40 (corrupt40's left item): the temporary file was renamed / linked into
    place without an fsync, so after a power cut the new name could hold an empty file (a
    run lock refusing every later run, a report read as damaged). Now its data is synced
    before the rename and the folder's entry after it."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", "dir" if os.path.isdir(target) else Path(target).name))
        return real_fsync(fd)

    def moved(kind, real):
        def move(src, dst, *a, **k):
            events.append((kind, Path(dst).name))
            return real(src, dst, *a, **k)

        return move

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", moved("replace", real_replace))
    monkeypatch.setattr(os, "link", moved("link", real_link))
    target = tmp_path / "state.json"
    getattr(jsonout, writer)(target, '{"a": 1}')
    assert target.read_text() == '{"a": 1}'
    move = "replace" if writer == "write_atomic" else "link"
    assert events == [("fsync", f".state.json.{os.getpid()}.tmp"), (move, "state.json"),
                      ("fsync", "dir")]  # fmt: skip
