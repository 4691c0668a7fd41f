"""`fraud-app generate | etl | validate` end to end through the CLI and one config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fraud_app.data.dirty import DEFECTS
from fraud_app.data.generator import RAW_COLUMN_NAMES
from pipelines.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.spark
@pytest.mark.integration
def test_generate_etl_validate_from_one_config(tmp_path, capsys) -> None:
    demo = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    demo["paths"]["root"] = str(tmp_path / "work")
    demo["generate"].update(n_transactions=3_000, n_cards=300, dirty_fraction=0.02, partitions=2)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(demo))

    assert main(["-c", str(config), "generate"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert generated["transactions"] == 3_000 and set(generated["frauds_by_pattern"]) == {
        "compromised_merchant", "stolen_card", "card_testing", "account_takeover",
    }  # fmt: skip
    header = next((tmp_path / "work" / "raw").glob("part-*.csv")).read_text().splitlines()[0]
    assert header.split(",") == list(RAW_COLUMN_NAMES.values())

    assert main(["-c", str(config), "etl"]) == 0
    etl = json.loads(capsys.readouterr().out)
    assert etl["input_rows"] == etl["output_rows"] + etl["quarantine_rows"] + etl["duplicate_rows"]
    assert etl["duplicate_rows"] > 0  # every injected defect is caught under its reason:
    assert set(etl["quarantine_by_reason"]) == set(DEFECTS.values()) - {"duplicate"}

    assert main(["-c", str(config), "validate"]) == 0
    validated = json.loads(capsys.readouterr().out)
    assert validated["success"] and Path(validated["html"]).is_file()


def test_flag_errors_name_the_key(tmp_path, capsys) -> None:
    assert main(["generate", "--rows", "0"]) == 2
    assert "generate.n_transactions" in capsys.readouterr().err
