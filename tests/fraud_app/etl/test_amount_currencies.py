"""A multi-currency export in minor units through the real ETL: each currency written with
its own ISO 4217 decimals (JPY 1000 is 1000 yen, USD 1050 is 10.50, KWD 1500 is 1.500).
One etl.amount_minor_units for every row divided the yen by 100 without a word (session
41 left it); `iso4217` reads each row's currency's decimals (fraud_app.etl.iso4217)."""

from __future__ import annotations

import logging

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl import report_readings
from tests.fraud_app.etl.test_amount_units import _csv, _warnings
from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

RATES = {"USD": 0.9, "JPY": 0.006, "KWD": 3.0, "BHD": 2.4, "036": 0.6, "ISK": 0.007, "392": 0.5}


@pytest.mark.spark
def test_each_currency_is_read_with_its_own_decimals(spark, tmp_path) -> None:
    # one run for every case: ISO decimals 2, 0, 3, 3; a numeric code written without its
    # zero (an integer column: 36 is 036, AUD); an override (ISK: 2 where ISO says 0); a
    # fraction in a zero-decimal currency; a currency without a rate
    written = ["1050", "1050", "1000", "1500", "2500", "1000", "500", "1000.5", "100", "500",
               "100"]  # fmt: skip
    codes = ["EUR", "usd", "JPY", "KWD", " bhd", "36", "ISK", "JPY", "CHF", "392", "840"]
    files = {"a.csv": _csv(written, {"currency": codes})}
    result = _run(spark, tmp_path, files, amount_minor_units="iso4217",
                  currency={"base": "EUR", "rates": RATES, "minor_units": {"isk": 2}})  # fmt: skip
    assert_accounted(spark, result, len(written))
    got = {t: r["amount"] for t, r in _rows(spark, result).items()}
    assert got == {
        "t0": 1050 / 100.0, "t1": 1050 / 100.0 * 0.9, "t2": 1000 / 1.0 * 0.006,
        "t3": 1500 / 1000.0 * 3.0, "t4": 2500 / 1000.0 * 2.4, "t5": 1000 / 100.0 * 0.6,
        "t6": 500 / 100.0 * 0.007, "t9": 500 / 1.0 * 0.5,
    }  # fmt: skip
    q = _quarantine(spark, result)
    assert q["t7"] == (
        "amount_not_minor_units",
        "amount '1000.5' has a fraction, but etl.amount_minor_units iso4217 reads each amount "
        "as a whole number of its currency's minor unit (JPY has 0 decimals): is this export "
        "in major units? Then remove the setting",
    )
    assert q["t8"] == ("unknown_currency", "currency 'CHF' has no rate in etl.currency.rates "
                       "(accepted: EUR (base), 036, 392, BHD, ISK, JPY, KWD, USD): add its rate "
                       "to convert it")  # fmt: skip
    # USD's number code where USD is accepted by its letters: named as such
    assert q["t10"] == ("unknown_currency", "currency '840' is the other ISO 4217 code of USD, "
                        "which etl.currency accepts under that code only: add it under "
                        "etl.currency.rates with the same rate (1 for the base) to read it")  # fmt: skip
    assert result.amount_reading["minor_units"] == "iso4217"
    assert result.amount_reading["currency"]["minor_units"] == {"ISK": 2}


@pytest.mark.spark
def test_one_number_of_decimals_for_currencies_of_others_is_named(spark, tmp_path,
                                                                  caplog) -> None:  # fmt: skip
    # the setting session 41 offered: JPY 1000 (1000 yen) published as 10.00 yen, silently
    # (this run also reads two accounting negatives, quarantined without a word on their
    # spelling before: `expected a plain number` only)
    amounts_ = ["1000", "1050", '"(10,50)"', "1050-"]
    files = {"a.csv": _csv(amounts_, {"currency": ["JPY", "EUR", "EUR", "EUR"]})}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = _run(spark, tmp_path, files, amount_minor_units=2,
                      currency={"base": "EUR", "rates": {"JPY": 1.0, "KWD": 3.0}})  # fmt: skip
    assert {t: r["amount"] for t, r in _rows(spark, result).items()} == {"t0": 10.0, "t1": 10.5}
    q = _quarantine(spark, result)
    for t in ("t2", "t3"):
        assert q[t][0] == "non_numeric_amount"
        assert "it looks like an accounting negative ((10.50) or 10.50-)" in q[t][1]
    (said,) = _warnings(caplog)
    assert "etl.amount_minor_units 2 divides every amount by 10^2" in said
    assert "(JPY 0, KWD 3)" in said and "etl.amount_minor_units: iso4217" in said


@pytest.mark.spark
def test_the_table_matches_the_jvms_iso_4217_data(spark) -> None:
    from fraud_app.etl.iso4217 import MINOR_UNITS

    jdk = {}
    for c in spark.sparkContext._jvm.java.util.Currency.getAvailableCurrencies().toArray():
        if c.getDefaultFractionDigits() >= 0:
            jdk[c.getCurrencyCode()] = c.getDefaultFractionDigits()
            jdk[c.getNumericCodeAsString()] = c.getDefaultFractionDigits()
    common = set(jdk) & set(MINOR_UNITS)
    assert {"JPY", "USD", "EUR", "KWD", "BHD", "CLF", "392", "048"} <= common
    assert {c: MINOR_UNITS[c] for c in common} == {c: jdk[c] for c in common}
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["KWD"], MINOR_UNITS["EUR"]) == (0, 3, 2)


@pytest.mark.parametrize(
    ("etl", "match"),
    [
        ({"amount_minor_units": 5}, r"amount_minor_units: expected a whole number 0-4 .* or "
         r"iso4217 .*received 5"),
        # YAML's `yes` was the exponent 1
        ({"amount_minor_units": True}, r"expected a whole number 0-4 .*received True"),
        ({"amount_minor_units": "ISO4217"}, r"iso4217 reads each row's decimals from its "
         r"currency, but etl.currency is not set"),
        ({"amount_minor_units": "iso4217", "currency": {"base": "EUR", "rates": {"XAU": 2000}}},
         r"no minor unit for XAU \(accepted by etl.currency\): give its decimals under "
         r"etl.currency.minor_units, e.g. \{XAU: 2\}"),
        ({"amount_minor_units": 2, "currency": {"base": "EUR", "minor_units": {"JPY": 0}}},
         r"minor_units \{'JPY': 0\} applies only with etl.amount_minor_units: iso4217 \(now 2\)"),
        ({"amount_minor_units": "iso4217", "currency": {"base": "EUR", "minor_units": {"JPY": 5}}},
         r"minor_units JPY: expected a whole number 0-4"),
        # YAML reads `044: 2.1` as the octal 36, AUD's numeric code: no integer under 100
        ({"currency": {"base": "EUR", "rates": {36: 0.6}}},
         r"the number 36 is not read as a currency code: YAML reads an unquoted code with a "
         r"leading zero as an octal number"),
        ({"currency": {"base": 8}}, r"quote numeric codes under 100, e.g. '036'"),
        # an override naming a currency by the other code than the rows' (ISK for 352),
        # or one not accepted, applied to no row: 352 was read with ISO's 0, silently
        ({"amount_minor_units": "iso4217", "currency": {"base": "EUR", "rates": {
            "352": 0.006}, "minor_units": {"ISK": 2}}},
         r"minor_units ISK: not a currency etl.currency accepts \(EUR, 352\), so it would "
         r"apply to no row; 352 \(its other ISO 4217 code\) is: write \{352: 2\}"),
        ({"amount_minor_units": "iso4217", "currency": {"base": "EUR", "minor_units": {
            "GBP": 2}}}, r"minor_units GBP: not a currency .* add GBP under etl.currency.rates"),
        # ISK and 352 both accepted, the override for one: one currency read two ways
        ({"amount_minor_units": "iso4217", "currency": {"base": "EUR", "rates": {
            "ISK": 0.006, "352": 0.006}, "minor_units": {"ISK": 2}}},
         r"gives ISK 2 decimals, but etl.currency also accepts 352, its other ISO 4217 code, "
         r"which would be read with 0: add \{352: 2\} too"),
    ],
)  # fmt: skip
def test_bad_minor_unit_settings_are_refused(etl, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, {"etl": etl})


def test_a_quoted_number_of_decimals_reads_as_before() -> None:
    # `amount_minor_units: '2'` read as 2 before iso4217 (pydantic's int, as every other
    # number of the config still is); the new setting refused it, failing a working config
    assert load_config(None, {"etl": {"amount_minor_units": " 2"}}).etl.amount_minor_units == 2
    # `2.0` too (a whole float); 2.5 and 5.0 are not a number of decimals
    assert load_config(None, {"etl": {"amount_minor_units": 2.0}}).etl.amount_minor_units == 2
    for bad in (2.5, 5.0):
        with pytest.raises(ConfigError, match=rf"expected a whole number 0-4 .*received {bad}"):
            load_config(None, {"etl": {"amount_minor_units": bad}})
    with pytest.raises(ConfigError, match=r"expected a whole number 0-4 .*received '2.5'"):
        load_config(None, {"etl": {"amount_minor_units": "2.5"}})


def test_numeric_codes_compare_in_their_three_digit_form() -> None:
    cfg = load_config(None, {"etl": {"amount_minor_units": "iso4217", "currency": {
        "base": "978", "rates": {"36": 0.6, "392": 0.006, "048": 2.4}}}}).etl  # fmt: skip
    assert cfg.currency.accepted() == ("978", "036", "048", "392")
    assert cfg.currency.exponents() == {"978": 2, "036": 2, "048": 3, "392": 0}


def test_the_reading_of_a_config_without_minor_units_is_as_before() -> None:
    # a report of session 41 recorded etl.currency without minor_units: the same settings
    # must read as the same reading, or every append after the upgrade raised a WARNING
    cfg = load_config(None, {"etl": {"amount_minor_units": 2,
                                     "currency": {"base": "EUR", "rates": {"USD": 0.5}}}}).etl  # fmt: skip
    before = {"minor_units": 2, "currency": {"base": "EUR", "rates": {"USD": 0.5}}}
    assert report_readings.amount_reading(cfg) == before


def test_an_unquoted_numeric_code_in_a_yaml_file_is_refused(tmp_path) -> None:
    # `044` (BSD) is the octal 36 to YAML, AUD's numeric code: its rate went to AUD rows
    path = tmp_path / "c.yaml"
    path.write_text("etl:\n  currency:\n    base: EUR\n    rates: {044: 0.9, '036': 0.6}\n")
    with pytest.raises(ConfigError, match=r"the number 36 is not read as a currency code"):
        load_config(path)
    path.write_text("etl:\n  currency:\n    base: EUR\n    rates: {'044': 0.9, '036': 0.6}\n")
    assert load_config(path).etl.currency.rates == {"044": 0.9, "036": 0.6}


@pytest.mark.spark
def test_cents_with_rates_and_no_unit_look_like_minor_units(spark, tmp_path, caplog) -> None:
    # the look was not asked when rates convert (the published amounts are fractional):
    # a cents export with etl.currency and no etl.amount_minor_units went out 100 times
    # too large without a word; it is asked of the amounts as written
    whole = [str(500 + 97 * i) for i in range(30)]
    files = {"a.csv": _csv(whole, {"currency": ["EUR", "USD"] * 15})}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = _run(spark, tmp_path, files, currency={"base": "EUR", "rates": {"USD": 0.9}})
    assert result.output_rows == 30 and result.amounts_look_minor["rows"] == 30
    assert result.amounts_look_minor["median"] >= 1000
    (said,) = _warnings(caplog)
    assert "they look like minor units" in said and "iso4217" in said


@pytest.mark.parametrize(("rates", "warned"), [({"USD": 0.9}, False), ({"JPY": 0.006}, True)])
def test_an_append_switching_to_iso4217_is_named_only_where_a_currency_reads_otherwise(
    rates, warned, caplog
) -> None:
    # 2 and iso4217 divide EUR and USD alike: the append was told its table mixed units
    # and to rebuild it; JPY 1000 reads 10 with 2 and 1000 with iso4217: named
    last = {"amount_reading": {"minor_units": 2, "currency": {"base": "EUR", "rates": rates}}}
    cfg = load_config(None, {"etl": {"amount_minor_units": "iso4217",
                                     "currency": {"base": "EUR", "rates": rates}}}).etl  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        report_readings.check_amount_reading(last, cfg, "canonical")
    assert bool(_warnings(caplog)) is warned
