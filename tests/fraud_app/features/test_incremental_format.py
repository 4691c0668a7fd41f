"""A feature table whose values an older compiler computed is rebuilt whole, with the reason.

Session 34 changed how window std and z-score are computed (from deviations, not sum of
squares - sum^2 / n): the specs and settings did not change, so the incremental build
would have kept every old date's values and appended the new ones beside them."""

from __future__ import annotations

import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.features import incremental

pytestmark = pytest.mark.integration


def _plan(spark, tmp_path, recorded):
    target = tmp_path / "features"
    target.mkdir()
    now = {"partitions": {}, "inputs": {}, "digests": {}}
    return incremental.plan(
        HadoopFs(spark), str(target), str(tmp_path / "canonical"), now, forced=None,
        read_metadata=lambda _: {incremental.KEY: recorded},
    )  # fmt: skip


def test_a_table_of_an_older_format_is_rebuilt_naming_what_changed(spark, tmp_path):
    out = _plan(spark, tmp_path, {"format": 2, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full
    assert f"format 2, this release's {incremental.FORMAT}" in out.reason
    assert "window std and z-score computed from deviations" in out.reason
    assert "after a first amount far from the later ones" in out.reason


def test_a_table_of_format_3_is_rebuilt(spark, tmp_path):
    # review34: format 3's running-window std read 0 after an outlying first amount
    out = _plan(spark, tmp_path, {"format": 3, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full and f"format 3, this release's {incremental.FORMAT}" in out.reason
    assert "window std and z-score computed from deviations" not in out.reason


def test_a_table_of_format_4_is_rebuilt(spark, tmp_path):
    # review50d: format 4 wrote 0.0 (sum) and the fill (mean, std) for an include_current
    # window whose current value is null (a table of one's own, features.input, with nulls
    # in the column); an incremental build kept those values on every earlier date
    out = _plan(spark, tmp_path, {"format": 4, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full and "format 4, this release's" in out.reason
    assert "include_current windows whose current value is null" in out.reason
    assert "computed from deviations" not in out.reason


def test_a_table_without_a_format_is_rebuilt(spark, tmp_path):
    out = _plan(spark, tmp_path, {"inputs": {}})
    assert out.full and "records no per-date state" in out.reason


def test_a_table_of_format_5_is_rebuilt(spark, tmp_path):
    # session 52 (exact52): format 5's running frames of non-integer values summed in
    # double, so a window's value depended on where the running sums started; an
    # incremental build would have kept those beside the exact DECIMAL ones
    out = _plan(spark, tmp_path, {"format": 5, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full and "format 5, this release's" in out.reason
    assert "from exact DECIMAL running sums" in out.reason
    assert "include_current windows" not in out.reason


def test_a_table_of_format_6_is_rebuilt(spark, tmp_path):
    # session 53 (fast53): format 6's running frames summed DECIMALs of the values rounded
    # half up in decimal, and its stds came from DECIMAL arithmetic; the integer sums
    # round a half-way value half even in binary and a std's last bits may differ
    out = _plan(spark, tmp_path, {"format": 6, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full and "format 6, this release's" in out.reason
    assert "from exact integer running sums" in out.reason
    assert "from exact DECIMAL running sums" not in out.reason


def test_a_table_of_format_8_is_rebuilt(spark, tmp_path):
    # session 54 (exact54): format 8's running-frame include_current sum, mean and std
    # added the current row's raw double to the window's exact sums (a 9-decimal value
    # counted with all its decimals in its own row, with 5 in every later window)
    out = _plan(spark, tmp_path, {"format": 8, "inputs": {}, "partitions": {}, "digests": {}})
    assert out.full and "format 8, this release's" in out.reason
    assert "include_current sums, means and stds add the current value exactly" in out.reason
    assert "strictly before" not in out.reason
