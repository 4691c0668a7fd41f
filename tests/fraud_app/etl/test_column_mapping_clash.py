"""etl.columns: a source column mapped under another canonical column's own name, that
column not mapped itself, was read by both (a canonical column not listed is looked for
under its own name): `mcc: merchant_id` published mcc = merchant_id on every row, without
a word (session 51, probe51c). Refused when the config is loaded, before any Spark job;
the explicit clash (two keys, one source) was refused already."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError


@pytest.mark.parametrize(
    "columns, key, source",
    [
        ({"mcc": "merchant_id"}, "mcc", "merchant_id"),  # the ETL run: mcc == merchant_id
        ({"device_id": "merchant_id", "card_id": "card"}, "device_id", "merchant_id"),
        ({"transaction_id": "card_id"}, "transaction_id", "card_id"),  # every row one card
        ({"label_time": "timestamp"}, "label_time", "timestamp"),
    ],
)
def test_a_column_read_by_two_canonical_columns_is_refused(columns, key, source) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, {"etl.columns": columns})
    said = str(err.value)
    assert f"{key} -> '{source}' (also read as {source}, which is not mapped)" in said
    assert f"map {source} to its own column too" in said
    # the way out when the export's column of that name really holds `key` (review51c)
    optional = source in ("merchant_id",)
    assert (f"map {source} to a column name the export does not have" in said) == optional


def test_the_way_out_named_for_an_optional_column_works() -> None:
    """`mcc` held in the export's `merchant_id` column, no merchant column: the message's
    way out (merchant_id mapped to a name the export does not have) loads."""
    columns = {"mcc": "merchant_id", "merchant_id": "no_merchant_column"}
    assert load_config(None, {"etl.columns": columns}).etl.columns == columns


def test_the_currency_column_clashes_only_where_etl_currency_reads_it() -> None:
    columns = {"country": "currency"}
    load_config(None, {"etl.columns": columns})  # no etl.currency: the column is not read
    with pytest.raises(ConfigError, match=r"country -> 'currency' \(also read as currency"):
        load_config(None, {"etl.columns": columns, "etl.currency": {"base": "EUR"}})


@pytest.mark.parametrize(
    "columns",
    [
        {"mcc": "merchant_id", "merchant_id": "merchant"},  # merchant_id mapped elsewhere
        {"merchant_id": "card_id", "card_id": "merchant_id"},  # a swap
        {"merchant_id": "merchant_id"},  # its own name, written out
        {"transaction_id": "txn_id", "label": "is_fraud"},
    ],
)
def test_mappings_that_read_each_column_once_load(columns) -> None:
    assert load_config(None, {"etl.columns": columns}).etl.columns == columns
