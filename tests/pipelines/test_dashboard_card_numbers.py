"""The data-quality page's sample of quarantined rows showed each rejected record's
original values, full card numbers included, in HTML that is mailed around and logged to
MLflow (helper pii37, session 37). fraud-app's dashboards now show them masked to the first
six and last four digits; `privacy.card_numbers: full` shows them whole (an investigator
deployment inside the PCI scope). No Spark: the synthetic run's files."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards import render_all
from dashboards.synthetic import SyntheticRun, write_run
from fraud_app.config import AppConfig
from pipelines.reporting import dashboard_options

SMALL = SyntheticRun(run="r1", members=2, groups=4, scored_days=2, test_rows=1_000, features=4)
PAN, OTHER = "4539871234567895", "6200000000001275"  # Luhn-valid; the generator's kind (not)


def _page(tmp_path, privacy: dict) -> str:
    src = write_run(tmp_path, SMALL)
    pd.DataFrame({
        "raw_txn_id": ["T1", "T2"], "raw_card_number": [PAN, OTHER], "raw_amt": ["-1", "5"],
        "reason": ["amount_below_minimum", "malformed_record"],
        "reason_detail": ["amount '-1' is below 0", f"malformed record: T2,{PAN},M1"],
    }).to_parquet(src.quarantine / "part-00000.parquet", index=False)  # fmt: skip
    doc = {"etl": {"columns": {"transaction_id": "txn_id", "card_id": "card_number"}}}
    config = AppConfig.model_validate({**doc, "privacy": privacy} if privacy else doc)
    render_all(src, ["r1"], dashboard_options(config))
    return (src.output / "r1" / "data-quality.html").read_text()


@pytest.mark.integration
def test_quarantine_sample_shows_card_numbers_masked_by_default(tmp_path):
    page = _page(tmp_path, {})
    assert PAN not in page and OTHER not in page  # was both, and the PAN twice
    assert "raw_card_number=453987******7895" in page
    assert "raw_card_number=620000******1275" in page  # the card column: Luhn or not
    assert "malformed record: T2,453987******7895,M1" in page
    assert "raw_txn_id=T1" in page  # the row can still be found in the quarantine table


@pytest.mark.integration
def test_an_investigator_deployment_shows_them_whole(tmp_path):
    page = _page(tmp_path, {"card_numbers": "full"})
    assert f"raw_card_number={PAN}" in page and f"malformed record: T2,{PAN},M1" in page


def test_privacy_card_numbers_takes_masked_or_full():
    assert AppConfig().privacy.card_numbers == "masked"
    with pytest.raises(ValueError, match="masked"):
        AppConfig.model_validate({"privacy": {"card_numbers": "partial"}})


@pytest.mark.integration
def test_a_numeric_transaction_id_in_the_sample_is_kept(tmp_path):
    """Review37b: the sample's `raw_<transaction_id>` column went through the free-text
    rule, so a numeric id that passes the Luhn check (one in ten) was masked in the one
    value that finds the row in the quarantine table (card_masking keeps `transaction_id`,
    not the quarantine's `raw_` name of it)."""
    src = write_run(tmp_path, SMALL)
    pd.DataFrame({
        "raw_txn_id": [PAN], "raw_card_number": [OTHER], "reason": ["amount_below_minimum"],
        "reason_detail": ["amount '-1' is below 0"],
    }).to_parquet(src.quarantine / "part-00000.parquet", index=False)  # fmt: skip
    config = AppConfig.model_validate(
        {"etl": {"columns": {"transaction_id": "txn_id", "card_id": "card_number"}}}
    )
    options = dashboard_options(config)
    assert options.shown_value("raw_txn_id", PAN) == PAN  # was 453987******7895
    assert options.shown_value("raw_transaction_id", PAN) == PAN
    assert options.shown_value("raw_card_number", PAN) == "453987******7895"
    render_all(src, ["r1"], options)
    page = (src.output / "r1" / "data-quality.html").read_text()
    assert f"raw_txn_id={PAN}" in page and "raw_card_number=620000******1275" in page
