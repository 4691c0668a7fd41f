"""`fraud-app generate | etl | validate` end to end through the CLI and one config file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fraud_app.data.dirty import DEFECTS
from fraud_app.data.generator import RAW_COLUMN_NAMES
from pipelines.cli import main

REPO = Path(__file__).resolve().parents[2]


def _demo_config(tmp_path: Path, **generate) -> Path:
    """configs/demo.yaml with its root under tmp_path, a small dirty data set, written out."""
    demo = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    demo["paths"]["root"] = str(tmp_path / "work")
    demo["generate"].update(dirty_fraction=0.02, **generate)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(demo))
    return config


@pytest.mark.spark
@pytest.mark.integration
def test_generate_etl_validate_from_one_config(tmp_path, capsys) -> None:
    config = _demo_config(tmp_path, n_transactions=3_000, n_cards=300, partitions=2)

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


@pytest.mark.spark
@pytest.mark.slow
def test_the_same_delivery_appended_again_adds_nothing(tmp_path, capsys) -> None:
    # etl --mode append on a delivery already published: every record is a duplicate of a
    # published row or quarantined again (the earlier quarantine stays beside it)
    config = _demo_config(tmp_path, n_transactions=1_000, n_cards=100, partitions=1)
    assert main(["-c", str(config), "generate"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "etl"]) == 0
    etl = json.loads(capsys.readouterr().out)
    assert etl["quarantine_rows"] > 0 and etl["duplicate_rows"] > 0
    assert main(["-c", str(config), "etl", "--mode", "append"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["previous_rows"], again["output_rows"]) == (etl["output_rows"],) * 2
    assert again["quarantine_by_reason"] == etl["quarantine_by_reason"]
    assert again["input_rows"] == again["quarantine_rows"] + again["duplicate_rows"]
    quarantine = tmp_path / "work" / "quarantine"
    assert len(pd.read_parquet(quarantine)) == 2 * etl["quarantine_rows"]


def test_flag_errors_name_the_key(tmp_path, capsys) -> None:
    assert main(["generate", "--rows", "0"]) == 2
    assert "generate.n_transactions" in capsys.readouterr().err


@pytest.mark.spark
@pytest.mark.integration
def test_a_moved_etl_output_moves_its_readers(tmp_path, capsys) -> None:
    # etl.output set in the config (features.input not): validate and features read the table
    # the ETL published, not an absent (or stale) <paths.canonical>
    config = _demo_config(tmp_path, n_transactions=1_500, n_cards=150, partitions=1)
    demo = yaml.safe_load(config.read_text())
    moved = tmp_path / "elsewhere" / "canonical"
    demo["etl"]["output"] = str(moved)
    config.write_text(yaml.safe_dump(demo))
    assert main(["-c", str(config), "generate"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "etl"]) == 0
    published = json.loads(capsys.readouterr().out)["output_rows"]
    assert not (tmp_path / "work" / "canonical").exists()

    assert main(["-c", str(config), "validate"]) == 0
    report = json.loads(Path(json.loads(capsys.readouterr().out)["json"]).read_text())
    assert report["table"] == str(moved)
    assert main(["-c", str(config), "features"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == published
