"""`generate` settings at their edges (session 47 probes): a row budget the frauds do not
fit, times beyond what a timestamp holds, and the same seed giving the same files."""

from __future__ import annotations

import hashlib
import re

import pytest

from fraud_app.config import load_config
from fraud_app.data.config import GenerateSection
from fraud_app.data.generator import generate_raw, plan_segments, write_raw
from fraud_app.errors import ConfigError
from pipelines.cli import main
from tests.pipelines.before_spark import one_error_before_spark


def test_too_few_rows_for_the_frauds_says_how_many(tmp_path, capsys) -> None:
    # was a ValueError ("lower fraud_rate", which cannot help: one fraud is always made),
    # printed by `fraud-app generate --rows 1` as a traceback after Spark had started
    with pytest.raises(ConfigError, match=(
        r"generate: n_transactions=1 is too few rows: fraud_rate 0\.005 makes 1 fraud\(s\) "
        r"\(at least one always\), which take 2 rows \(compromised_merchant writes 2 rows a "
        r"fraud\)\. Expected n_transactions >= 2")):  # fmt: skip
        plan_segments(GenerateSection(n_transactions=1))
    one = GenerateSection(n_transactions=1, pattern_weights={"stolen_card": 1})
    assert [(s.pattern.name, s.rows) for s in plan_segments(one)] == [("stolen_card", 1)]
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n")
    assert main(["generate", "-c", str(config), "--rows", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: generate: n_transactions=1 is too few rows" in err and "Traceback" not in err
    assert not (tmp_path / "work" / "raw").exists()


def test_too_few_rows_stop_before_spark_starts(tmp_path) -> None:
    # review47a: the test above passes also when the command checks the budget only in
    # generate_raw, after the session started; this one counts the SparkContext
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n"
                      "generate: {n_transactions: 1}\n")  # fmt: skip
    one_error_before_spark(config, "generate", "generate: n_transactions=1 is too few rows")
    # `run --generate` started Spark first too (review47a)
    one_error_before_spark(config, "run --generate", "generate: n_transactions=1 is too few rows")


@pytest.mark.parametrize(
    ("override", "days"),
    [
        # DATETIME_OVERFLOW from Spark half-way through the write
        ({"generate.settlement_delay_days": 1e12}, "1e+12"),
        ({"generate.label_delay_days": {"median_days": 7, "max_days": 1e9}}, "1e+09"),
        # label times written as '+10000-01-01 09:21:17' (188 of 200 rows)
        ({"generate.start_date": "9999-12-01", "generate.days": 10}, "100"),
        ({"generate.start_date": "9999-12-25", "generate.label_times": False}, "30"),
    ],
)
def test_times_beyond_year_9999_are_refused(override, days) -> None:
    with pytest.raises(ConfigError, match=rf"generate: start_date \+ days.* \+ {re.escape(days)} days is after 9999-12-31"):  # fmt: skip
        load_config(None, override, check_root=False)


def test_the_latest_times_that_fit_are_accepted() -> None:
    last = {"generate.start_date": "9999-12-01", "generate.days": 30, "generate.label_times": False}
    assert load_config(None, last, check_root=False).generate.days == 30
    cfg = load_config(None, {"generate.settlement_delay_days": 36_500}, check_root=False)
    assert cfg.generate.settlement_delay_days == 36_500


def _digest(folder) -> list[str]:
    # part-00000-<a new uuid per write>-c000.csv: the index and the bytes, not the uuid
    return [p.name[:10] + hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("part-*"))]  # fmt: skip


@pytest.mark.spark
def test_the_same_seed_writes_the_same_bytes(spark, tmp_path) -> None:
    cfg = GenerateSection(n_transactions=600, n_cards=60, n_merchants=50, days=5, seed=11,
                          dirty_fraction=0.05, partitions=2)  # fmt: skip
    for name in ("a", "b"):
        write_raw(generate_raw(spark, cfg), tmp_path / name, "csv")
    write_raw(generate_raw(spark, cfg.model_copy(update={"seed": 12})), tmp_path / "c", "csv")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(_digest(tmp_path / "a")) == 2 and _digest(tmp_path / "a") != _digest(tmp_path / "c")
