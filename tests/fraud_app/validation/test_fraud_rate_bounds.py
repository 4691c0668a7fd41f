"""A new user's fraud rate outside the starter config's bounds (session 28 probe28b).

`fraud-app init` writes the demo's `label_rate_min/max` (0.001 .. 0.02, the generated
data's 0.5 %); a 5 % export stopped at `validate` with `setting: ...label_rate_min /
...label_rate_max`: not which bound, nor to what. The failure now names the bound crossed
and a value that passes.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest

from fraud_app.config import load_config
from fraud_app.deploy.starter import init_project
from fraud_app.errors import ValidationFailedError
from fraud_app.validation.validate import validate_canonical

SCHEMA = (
    "transaction_id string, card_id string, merchant_id string, timestamp timestamp, "
    "amount double, label int, label_time timestamp, mcc string, channel string, "
    "country string, card_country string, device_id string, fraud_pattern string"
)
T0 = dt.datetime(2025, 3, 1)


def _rows(n: int, frauds: int) -> list[tuple]:
    return [
        (f"t{i:03d}", f"c{i % 7}", "m1", T0 + dt.timedelta(hours=i), 10.0 + i,
         1 if i < frauds else 0, None, None, None, None, None, None, None)
        for i in range(n)
    ]  # fmt: skip


def _starter(tmp_path):
    written = init_project(tmp_path / "proj")
    return load_config(
        written["config"],
        {"paths.root": str(tmp_path), "validation.canonical.reference_time": "2025-03-03T00:00:00"},
    )


@pytest.mark.spark
def test_a_fraud_rate_above_the_starter_bounds_names_the_max_and_a_value(spark, tmp_path):
    cfg = _starter(tmp_path)
    assert cfg.validation.canonical.label_rate_max == 0.02  # the demo's bound, kept by init
    df = spark.createDataFrame(_rows(40, 2), SCHEMA)  # 5 % fraud
    with pytest.raises(ValidationFailedError) as info:
        validate_canonical(spark, df, cfg)
    line = next(x for x in str(info.value).splitlines() if "label:rate" in x)
    assert "label_rate_min" not in line
    assert re.search(
        r"setting: validation\.canonical\.label_rate_max \(observed 0\.05 is above its 0\.02; "
        r"if that is what your data holds, set validation\.canonical\.label_rate_max to at "
        r"least 0\.05\)$",
        line,
    ), line
    # the value named passes
    ok = load_config(
        None,
        {
            "paths.root": str(tmp_path),
            "validation.canonical": {
                "reference_time": "2025-03-03T00:00:00",
                "label_rate_min": 0.001,
                "label_rate_max": 0.05,
            },
        },
    )
    assert validate_canonical(spark, df, ok).success


@pytest.mark.spark
def test_no_fraud_at_all_names_the_min(spark, tmp_path):
    df = spark.createDataFrame(_rows(40, 0), SCHEMA)
    with pytest.raises(ValidationFailedError) as info:
        validate_canonical(spark, df, _starter(tmp_path))
    line = next(x for x in str(info.value).splitlines() if "label:rate" in x)
    assert "label_rate_max" not in line
    assert "observed 0 is below its 0.001" in line
    assert "set validation.canonical.label_rate_min to at most 0)" in line
    # a rate of 0 is more often labels misread (F for fraud read as false): say so first
    assert line.endswith(
        ". No labelled row is a fraud (label 1), and no model learns fraud without one: "
        "first check how the export's labels were read (etl.columns.label, "
        "etl.label_values; the ETL's WARNING about label words of two kinds, e.g. F "
        "beside N)"
    ), line


def test_the_value_named_is_rounded_so_the_observed_rate_passes():
    from fraud_app.validation.runner import _round_away

    assert _round_away(0.0523, math.ceil) == 0.053
    assert _round_away(0.00047, math.floor) == 0.00047
    assert _round_away(0.000471, math.floor) == 0.00047
    assert _round_away(0.2, math.ceil) == 0.2
    assert _round_away(0.0, math.floor) == 0.0


@pytest.mark.spark
def test_refunds_kept_by_the_etl_can_pass_the_amount_check(spark, tmp_path):
    # etl.bounds.min_amount < 0 keeps refunds; validation.canonical.min_amount, which the
    # amount:range failure names, refused any value below 0 (ConfigError), so such a table
    # could only pass with the check made a warning
    rows = _rows(40, 1)
    rows[3] = (*rows[3][:4], -10.5, *rows[3][5:])
    df = spark.createDataFrame(rows, SCHEMA)
    over = {"reference_time": "2025-03-03T00:00:00", "label_rate_max": 0.05}
    with pytest.raises(ValidationFailedError, match=r"amount:range .*min_amount"):
        root = {"paths.root": str(tmp_path)}  # its reports there, not in the suite's cwd
        validate_canonical(spark, df, load_config(None, {**root, "validation.canonical": over}))
    cfg = load_config(
        None,
        {
            "paths.root": str(tmp_path),
            "etl.bounds.min_amount": -500,
            "validation.canonical": {**over, "min_amount": -500},
        },
    )
    assert validate_canonical(spark, df, cfg).success


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_a_negative_min_amount_is_allowed_but_not_nan_or_infinity(bad):
    """ge=0 refused NaN as a side effect; lifting it for refunds must not let NaN in (every
    amount:range comparison with it is false)."""
    from pydantic import ValidationError

    from fraud_app.validation.config import CanonicalChecks

    assert CanonicalChecks(min_amount=-500).min_amount == -500
    with pytest.raises(ValidationError, match="min_amount"):
        CanonicalChecks(min_amount=bad)
