"""A group's timing line: shares of its wall time, never above 100 %."""

from __future__ import annotations

import pytest

from fraud_app.spark.grouped import group_timing


def _meta(loop: float, compute: float, sync: float, samples: int = 256) -> dict:
    return {"loop_s": loop, "compute_s": compute, "sync_s": sync, "samples": samples}


def test_a_group_whose_reports_came_right_after_the_previous_ones_is_not_faster_than_its_loop():
    # seen on a loaded host: the previous group's last report arrived late, this group's
    # 0.1 ms after it: `compute 472% sync 4312%`, 897,757 samples/s for one iteration
    meta = [_meta(0.010, 0.0005, 0.0043), _meta(0.012, 0.0006, 0.0050)]
    t = group_timing(meta, wall=0.0001)
    assert t["wall_s"] == 0.012
    for key in ("compute_share", "sync_share", "scheduling_share"):
        assert 0.0 <= t[key] <= 1.0, (key, t[key])
    assert t["scheduling_share"] == 0.0
    assert t["samples_per_s"] == pytest.approx(512 / 0.012)


def test_a_normal_group_keeps_the_driver_interval():
    t = group_timing([_meta(0.8, 0.5, 0.2)], wall=1.0)
    assert t["wall_s"] == 1.0 and t["loop_s"] == 0.8
    assert t["compute_share"] == pytest.approx(0.5) and t["sync_share"] == pytest.approx(0.2)
    assert t["scheduling_share"] == pytest.approx(0.2)
