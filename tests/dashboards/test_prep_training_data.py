"""Time split shares, epochs, failures, rows per step and daily stats by hand."""

from __future__ import annotations

import math
import re

import pytest

from dashboards.pages.training import sections
from dashboards.prep.data import daily_stats, rows_per_step
from dashboards.prep.training import (
    epoch_ends,
    failed_groups,
    group_times,
    member_x,
    time_split_shares,
    validation_points,
)
from dashboards.sources import RunData

HISTORY = [
    {"group": 0, "wall_s": 2.0, "compute_share": 0.5, "sync_share": 0.25,
     "scheduling_share": 0.125, "samples_per_s": 100.0, "stage_start": True},
    # shares add up to 1.2 (rounding): scaled down to the wall time
    {"group": 1, "wall_s": 1.0, "compute_share": 0.8, "sync_share": 0.4,
     "scheduling_share": 0.0, "samples_per_s": 100.0},
]  # fmt: skip


def test_group_times_stack_to_wall_time():
    g0, g1 = group_times(HISTORY)
    assert (g0.compute_s, g0.allreduce_s, g0.scheduling_s, g0.other_s) == (1.0, 0.5, 0.25, 0.25)
    assert (g0.start_s, g1.start_s, g0.stage_start, g1.stage_start) == (0.0, 2.0, True, False)
    assert g1.compute_s == pytest.approx(2 / 3) and g1.allreduce_s == pytest.approx(1 / 3)
    assert g1.other_s == 0.0


def test_time_split_shares_by_hand_and_empty():
    s = time_split_shares(HISTORY)
    assert s == pytest.approx(
        {"compute": (1 + 2 / 3) / 3, "allreduce": (0.5 + 1 / 3) / 3,
         "scheduling": 0.25 / 3, "other": 0.25 / 3}
    )  # fmt: skip
    assert sum(s.values()) == pytest.approx(1.0)
    assert time_split_shares([]) is None
    assert time_split_shares([{"wall_s": 0.0}]) is None
    assert group_times([]) == []


def test_epoch_ends():
    assert epoch_ends(HISTORY, 250) == [0.8, 1.2]
    assert epoch_ends(HISTORY, 0) == [None, None]


def test_failed_groups_and_validation_points():
    member = {
        "failures": ["round 2 (group 5): worker lost", "round 3 (group 5): again", "odd"],
        "validation": [
            {"epoch": 1, "iteration": 10, "average_precision": 0.3},
            {"epoch": 2, "iteration": 20, "average_precision": None},
        ],
    }
    assert failed_groups(member) == [5, 5]
    assert failed_groups({}) == []
    assert validation_points(member) == ([1.0], [0.3])


def test_rows_per_step_from_reports():
    etl = {"input_rows": 100, "output_rows": 90, "quarantine_rows": 6, "duplicate_rows": 4}
    splits = {"windows": {"train": {"rows": 60, "frauds": 3}, "test": {"rows": 10, "frauds": 1}}}
    balancing = {"subsets": [{"frauds": 3, "normals": 20}, {"frauds": 3, "normals": 21}]}
    steps = rows_per_step(etl, 88, splits, balancing)
    assert [(s.name, s.rows) for s in steps] == [
        ("raw input", 100), ("quarantined", 6), ("duplicates dropped", 4), ("canonical", 90),
        ("features", 88), ("split: train", 60), ("split: test", 10),
        ("subset 0", 23), ("subset 1", 24),
    ]  # fmt: skip
    assert rows_per_step(None, None, None, None) == []


def test_daily_stats_by_hand_and_empty():
    d = daily_stats(
        ["2024-01-01 10:00", "2024-01-01 23:59", "2024-01-02 00:00", "2024-01-02 01:00"],
        [1, 0, 0, 0],
    )
    assert (d.dates, d.transactions, d.frauds) == (["2024-01-01", "2024-01-02"], [2, 2], [1, 0])
    assert d.label_rate == [0.5, 0.0]
    assert daily_stats([], []).dates == []
    # labels not known yet (null): transactions, never in the rate; no known label: NaN
    d = daily_stats(["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02"], [1, 0, None, None])
    assert (d.transactions, d.frauds, d.label_rate[0]) == ([3, 1], [1, 0], 0.5)
    assert math.isnan(d.label_rate[1])


def test_validation_points_are_on_the_loss_charts_epochs():
    """Session 50, the demo run's member 01 (2,079 rows, global batch 256): the loss chart
    counts passes over the rows (27 iterations x 256 / 2,079 = 3.325, the config's
    `epochs`), the early-stopping record says epoch 3.0 (27 / ceil(2,079 / 256)); the two
    charts of one page put the same iteration 11 % apart (the last of a 5-epoch run at
    4.56 on one, 5.05 on the other)."""
    ends = [27, 36, 41]
    history = [
        {"group": g, "end_iteration": end, "iterations": end - start, "wall_s": 0.5,
         "samples_per_s": (end - start) * 256 / 0.5}
        for g, (start, end) in enumerate(zip([0, *ends[:-1]], ends, strict=True))
    ]  # fmt: skip
    validation = [{"epoch": e, "iteration": i, "average_precision": 0.5}
                  for e, i in ((3.0, 27), (4.0, 36), (4.5556, 41))]  # fmt: skip
    member = {"rows": 2079, "history": history, "validation": validation}
    passes = [i * 256 / 2079 for i in ends]
    assert member_x(member) == (pytest.approx(passes), "epoch")
    assert validation_points(member)[0] == pytest.approx(passes)
    # the history cannot place an iteration (none, or past its last group): as recorded
    assert validation_points({**member, "history": []})[0] == [3.0, 4.0, 4.5556]
    late = {**member, "validation": [*validation, {"epoch": 5.0, "iteration": 45,
                                                    "average_precision": 0.6}]}  # fmt: skip
    assert validation_points(late)[0][-1] == 5.0


def test_a_history_without_a_time_split_shows_no_shares():
    """The per-iteration engine writes compute / sync / scheduling shares NaN, which the
    report holds as null: the members table said compute 0.0 %, all-reduce 0.0 %,
    scheduling 0.0 % and the stacked chart put the whole wall time in "other"."""
    history = [
        {"group": g, "start_iteration": g, "end_iteration": g + 1, "iterations": 1,
         "loss": 0.5, "wall_s": 2.0, "samples_per_s": 128.0, "compute_share": None,
         "sync_share": None, "scheduling_share": None}
        for g in range(3)
    ]  # fmt: skip
    assert time_split_shares(history) is None
    assert [g.split for g in group_times(history)] == [False] * 3
    member = {"rows": 1000, "iterations": 3, "history": history, "retries": 0}
    secs = sections(RunData("r1", {"members": [member]}))
    assert [s.title for s in secs] == ["Ensemble members", "Loss", "Throughput and time line"]
    row = re.search(r"<tr><td>member 00</td>(.*?)</tr>", secs[0].body).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[5:8] == ["-", "-", "-"]  # compute, all-reduce, scheduling: unknown
    assert time_split_shares(HISTORY) is not None  # the grouped engine's: as before


def test_rows_per_step_of_an_append_load():
    """etl.mode: append: `input_rows` is this delivery, `output_rows` the whole table
    (`previous_rows` + added); the chart went raw input 1,000 -> canonical 13,000."""
    etl = {"input_rows": 1_000, "output_rows": 12_980, "previous_rows": 12_000,
           "quarantine_rows": 15, "duplicate_rows": 5}  # fmt: skip
    steps = [(s.name, s.rows, s.note) for s in rows_per_step(etl, None, None, None)]
    assert steps == [
        ("raw input", 1_000, "this load"), ("quarantined", 15, "rule broken"),
        ("duplicates dropped", 5, ""), ("added to canonical", 980, "to 12,000 rows loaded before"),
        ("canonical", 12_980, "the whole table"),
    ]  # fmt: skip
    first = {**etl, "output_rows": 980, "previous_rows": 0}  # a first or replace load: as before
    assert [s.name for s in rows_per_step(first, None, None, None)] == [
        "raw input", "quarantined", "duplicates dropped", "canonical"]  # fmt: skip
