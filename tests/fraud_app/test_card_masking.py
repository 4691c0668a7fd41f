"""Card numbers shown outside the data lake: first six and last four digits (PCI DSS), in
card_id values and in free text (fraud_app.card_masking)."""

from __future__ import annotations

import logging

import pytest

from fraud_app.card_masking import (
    luhn_valid,
    mask_card_id,
    mask_pans,
    mask_record,
    masked_digits,
    shown_value,
)
from fraud_app.redaction import RedactingFilter, shown_text

PAN = "4539871234567895"  # Luhn-valid
OTHER = "5412751234567898"  # Luhn-valid


def test_luhn_check():
    assert luhn_valid(PAN) and luhn_valid(OTHER) and luhn_valid("79927398713")
    assert not luhn_valid("4539871234567891") and not luhn_valid("1701234567890")


def test_masked_digits_keeps_first_six_and_last_four():
    assert masked_digits(PAN) == "453987******7895"
    assert masked_digits("1234567890123456789") == "123456*********6789"
    assert masked_digits("12345678") == "****5678"  # too short for 6 + 4: the last four


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"card {PAN} paid", "card 453987******7895 paid"),
        (f"TX1,{PAN},M00000244,2024-01-01 00:09:49", "TX1,453987******7895,M00000244,2024-01-01 00:09:49"),
        ("TX1,4539 8712 3456 7895,x", "TX1,453987******7895,x"),
        ("card 4539-8712-3456-7895.", "card 453987******7895."),
        (f'"{OTHER}"', '"541275******7898"'),
        ("card_id '4.53987123456789E+15' is in scientific notation", "card_id '4.53987*********E+15' is in scientific notation"),
        # the value a detail quotes as card_id, Luhn-valid or not (the generator's ids are not)
        ("kept in the canonical table: card_id=6200000000001275, amount=3", "kept in the canonical table: card_id=620000******1275, amount=3"),
        # glued to a letter (a column shift, a typo): Luhn-valid and a card brand's first digit
        ("amount '4539871234567895x' is not a number", "amount '453987******7895x' is not a number"),
        ("VISA4539871234567895, hex d4539871234567895", "VISA453987******7895, hex d453987******7895"),
        ("tok_5412751234567898_v2", "tok_541275******7898_v2"),
    ],
)  # fmt: skip
def test_mask_pans_masks_card_numbers_in_text(text, shown):
    assert mask_pans(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "ts 1701234567890 and 2024-01-01 12:00:00, amount 1.0E308, id T029b04cb53",
        "4539871234567891 fails the Luhn check",  # a count or an id of 16 digits
        "4539871234567895123456 (22 digits), d45398712345678951234 (21 glued)",
        # glued to a letter: an id that does not start as a card brand's, or fails Luhn
        "id T0123456789012345, T9539871234567894 (Luhn-valid), x4539871234567891y",
        "merchant_id=6200000000001275",  # not a card column
    ],
)
def test_mask_pans_leaves_other_numbers(text):
    assert mask_pans(text) == text


def test_mask_card_id_masks_any_long_digit_value_and_keeps_tokens():
    assert mask_card_id("6200000000001275") == "620000******1275"  # a card column: no Luhn needed
    assert mask_card_id("4539 8712 3456 7895") == "453987******7895"
    assert mask_card_id("tok_91ab") == "tok_91ab"
    assert mask_card_id(None) is None and mask_card_id(3.5) == 3.5


def test_mask_record_masks_card_columns_and_text():
    example = {"transaction_id": "T1", "card_id": "6200000000001275", "amount": 5e6,
               "note": [f"see {PAN}"], "ok": True}  # fmt: skip
    assert mask_record(example) == {
        "transaction_id": "T1", "card_id": "620000******1275", "amount": 5e6,
        "note": ["see 453987******7895"], "ok": True,
    }  # fmt: skip
    shown = shown_value({"raw_card_number"})
    assert shown("raw_card_number", "6200000000001275") == "620000******1275"
    assert shown("raw_txn_id", "x0539871234567891") == "x0539871234567891"  # not a brand's
    # glued to a letter, Luhn-valid and a brand's first digit: shown as a card number (a
    # column shift; session 43: was shown whole)
    assert shown("raw_txn_id", f"x{PAN}") == "x453987******7895"
    assert shown("reason_detail", f"malformed record: T1,{PAN}") == (
        "malformed record: T1,453987******7895"
    )


def test_log_lines_and_error_lines_mask_card_numbers():
    # shown_text: what the CLI's handlers (RedactingFilter) and `error:` lines write
    assert shown_text(f"e.g. malformed record: T1,{PAN},M1") == (
        "e.g. malformed record: T1,453987******7895,M1"
    )
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "rows (e.g. %s)", (PAN,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "rows (e.g. 453987******7895)"


def test_a_quoted_transaction_id_is_kept_however_it_looks():
    # A numeric transaction id of 16 digits passes the Luhn check one time in ten: the line
    # names the row by it (its key in the lake), so it is kept; a card number beside it is not.
    line = f"transaction_id '{PAN}' has 2 rows: card_id={OTHER}, amount=3; also {OTHER}"
    assert mask_pans(line) == (
        f"transaction_id '{PAN}' has 2 rows: card_id=541275******7898, amount=3; also 541275******7898"
    )
    assert mask_pans(f"transaction_id={PAN} card {PAN}") == (
        f"transaction_id={PAN} card 453987******7895"
    )
    assert mask_record({"transaction_id": PAN, "card_id": PAN}) == {
        "transaction_id": PAN, "card_id": "453987******7895",
    }  # fmt: skip
    assert shown_value()("transaction_id", PAN) == PAN
