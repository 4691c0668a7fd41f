"""Amount units and currencies through the real ETL (fraud_app.etl.amounts): an export in
cents, or with a currency column of several currencies, was published as written, so a
card's sums and means mixed units (session 40, data40). The canonical amount is in major
units of etl.currency.base; what cannot be converted is quarantined with its reason."""

from __future__ import annotations

import logging
import shutil

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, SchemaError
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label"
MAJOR = ["10.50", "0.01", "1234.56", "7", "19.99", "0.10", "99999.99", "0"]


def _csv(amounts: list[str], extra: dict[str, list[str]] | None = None, ids: str = "t") -> str:
    extra = extra or {}
    head = ",".join([HEADER, *extra])
    lines = []
    for i, a in enumerate(amounts):
        row = [f"{ids}{i}", f"c{i % 3}", f"2024-01-0{1 + i % 5} 10:00:00", a, "0"]
        lines.append(",".join(row + [v[i] for v in extra.values()]))
    return "\n".join([head, *lines]) + "\n"


def _cents(major: str) -> str:
    units, _, frac = major.partition(".")
    return str(int(units) * 100 + int((frac + "00")[:2]))


# One load with etl.amount_minor_units 2 read by the tests below (each reads its own rows;
# none writes): MAJOR in cents (ids t), an export in major units read with the setting
# (f), amounts beyond a long and infinite (h), amounts above etl.bounds.max_amount's 1e10
# as written, one of them also as published (b). One ETL run instead of five (sessions 45,
# 54).
MINOR_FILES = {
    "a.csv": _csv([_cents(a) for a in MAJOR]),  # 1050, 1, 123456, 700, ...
    "b.csv": _csv(["1050", "10.50"], ids="f"),
    "c.csv": _csv(["1e308", "inf", "1050"], ids="h"),
    "d.csv": _csv(["2000000000000", "100000000000"], ids="b"),
}
MINOR_RECORDS = len(MAJOR) + 2 + 3 + 2


@pytest.fixture(scope="module")
def minor(spark, tmp_path_factory):
    return _run(spark, tmp_path_factory.mktemp("minor"), MINOR_FILES, amount_minor_units=2)


def test_cents_with_the_setting_give_the_major_unit_amounts(spark, minor) -> None:
    assert_accounted(spark, minor, MINOR_RECORDS)
    # what a load of MAJOR as written publishes: Spark's string-to-double cast, the double
    # nearest each decimal (Java's parseDouble, as Python's float)
    want = {f"t{i}": float(a) for i, a in enumerate(MAJOR)}
    got = {t: r["amount"] for t, r in _rows(spark, minor).items() if t.startswith("t")}
    assert got == want  # bit for bit: 1050 / 100 is the double nearest 10.50, as '10.50' is
    assert got["t0"] == 10.5 and got["t2"] == 1234.56


def test_a_fraction_under_minor_units_is_quarantined(spark, minor) -> None:
    # an export in major units read with the setting: 10.50 would be published as 0.105
    assert_accounted(spark, minor, MINOR_RECORDS)
    assert _rows(spark, minor)["f0"]["amount"] == 10.5
    reason, detail = _quarantine(spark, minor)["f1"]
    assert reason == "amount_not_minor_units"
    assert "amount '10.50' has a fraction, but etl.amount_minor_units 2" in detail


# One load with a mapped currency column and rates read by the two tests below (each reads
# its own rows: t mixed currencies, r ones without a rate; none writes): one ETL run
# instead of two (session 52).
RATES_FILES = {
    "a.csv": _csv(["10"] * 8, {"CCY": ["EUR", "USD", " gbp ", "usd", "EUR", "GBP", "USD", "EUR"]}),
    "b.csv": _csv(["10", "10", "10", "abc"], {"CCY": ["EUR", "CHF", "", "USD"]}, ids="r"),
}


@pytest.fixture(scope="module")
def rates(spark, tmp_path_factory):
    return _run(spark, tmp_path_factory.mktemp("rates"), RATES_FILES,
                columns={"currency": "CCY"},
                currency={"base": "eur", "rates": {"USD": 0.92, "GBP": 1.17}})  # fmt: skip


def test_mixed_currencies_convert_to_the_base(spark, rates) -> None:
    result = rates
    assert_accounted(spark, result, 12)
    rows = {t: r for t, r in _rows(spark, result).items() if t.startswith("t")}
    assert {t: r["amount"] for t, r in rows.items()} == {
        "t0": 10.0, "t1": 10 * 0.92, "t2": 10 * 1.17, "t3": 10 * 0.92,
        "t4": 10.0, "t5": 10 * 1.17, "t6": 10 * 0.92, "t7": 10.0,
    }  # fmt: skip
    assert "currency" not in next(iter(rows.values()))  # read, checked, not published
    assert result.currency_column == "CCY"
    assert result.currencies == {"EUR": 4, "USD": 3, "GBP": 2}  # r0's EUR among them


CENTS_AND_RATES = {"amount_minor_units": 2, "currency": {"base": "EUR", "rates": {"USD": 0.5}}}


@pytest.fixture(scope="module")
def cents_and_rates(spark, tmp_path_factory):
    """A first load in cents of EUR and USD (t0, t1), its folder (in/, work/) and result;
    read by one test, copied by the append that follows it."""
    base = tmp_path_factory.mktemp("cents-and-rates")
    files = {"a.csv": _csv(["1000", "1000"], {"currency": ["EUR", "USD"]})}
    return base, _run(spark, base, files, **CENTS_AND_RATES)


def test_cents_and_rates_together(spark, cents_and_rates) -> None:
    _, result = cents_and_rates
    assert {t: r["amount"] for t, r in _rows(spark, result).items()} == {"t0": 10.0, "t1": 5.0}


def test_a_currency_without_a_rate_is_quarantined_naming_it(spark, rates) -> None:
    result = rates
    assert_accounted(spark, result, 12)
    assert sorted(t for t in _rows(spark, result) if t.startswith("r")) == ["r0"]
    q = _quarantine(spark, result)
    assert sorted(q) == ["r1", "r2", "r3"]  # every t row converted
    assert q["r1"] == ("unknown_currency", "currency 'CHF' has no rate in etl.currency.rates "
                       "(accepted: EUR (base), GBP, USD): add its rate to convert it")  # fmt: skip
    assert q["r2"] == (
        "unknown_currency",
        "currency is empty: expected EUR or GBP or USD (etl.currency)",
    )
    assert q["r3"][0] == "non_numeric_amount"  # a known currency: the amount's own reason


def test_one_expected_currency_quarantines_the_others(spark, tmp_path) -> None:
    files = {"a.csv": _csv(["10", "20", "30"], {"currency": ["EUR", "USD", "eur"]})}
    result = _run(spark, tmp_path, files, currency={"base": "EUR"})
    assert_accounted(spark, result, 3)
    assert {t: r["amount"] for t, r in _rows(spark, result).items()} == {"t0": 10.0, "t2": 30.0}
    assert _quarantine(spark, result)["t1"] == (
        "unknown_currency", "currency 'USD' is not EUR (etl.currency.base), the one currency "
        "accepted: add it under etl.currency.rates with its rate to convert it",
    )  # fmt: skip
    assert result.currencies == {"EUR": 2}


def test_bounds_compare_the_converted_amount_and_say_so(spark, minor) -> None:
    # 2e12 cents are 2e10 as published, above etl.bounds.max_amount (its default, 1e10); 1e11
    # cents are above it only as written: published, 1e9. Was a load of its own with
    # max_amount 1000 (250000 and 100 cents: both sides of the bound either way); a set
    # max_amount is honoured in test_huge_amounts_under_minor_units_are_quarantined_not_a_crash
    assert_accounted(spark, minor, MINOR_RECORDS)
    rows = _rows(spark, minor)
    assert "b0" not in rows and rows["b1"]["amount"] == 1e9
    assert _quarantine(spark, minor)["b0"] == (
        "amount_above_maximum", "amount '2000000000000' (2.0E10 as published: "
        "etl.amount_minor_units 2) is above 1e+10 (etl.bounds.max_amount)",
    )  # fmt: skip


def test_the_currency_column_must_be_there(spark, tmp_path) -> None:
    with pytest.raises(SchemaError, match=r"lacks the currency column \(looked for 'CCY'"):
        _run(spark, tmp_path, {"a.csv": _csv(["10"])}, columns={"currency": "CCY"},
             currency={"base": "EUR"})  # fmt: skip


@pytest.mark.parametrize(
    ("etl", "match"),
    [
        ({"columns": {"currency": "CCY"}}, r"maps currency \('CCY'\) but etl.currency is not set"),
        ({"currency": {"base": "EUR", "rates": {"USD": 0}}}, r"must be positive numbers"),
        ({"currency": {"base": "EUR", "rates": {"eur": 2}}}, r"base currency EUR the rate 2"),
        ({"currency": {"base": "EUR", "rates": {"USD": 1, "usd": 2}}}, r"names USD twice"),
        ({"currency": {"base": "E U R"}}, r"'E U R' is not a currency code"),
        # review41a: `USD: yes` was the rate 1.0 (booleans are no numbers elsewhere)
        (
            {"currency": {"base": "EUR", "rates": {"usd": True}}},
            r"rates USD: expected a number \(its rate to the base\), not the boolean true",
        ),
        ({"amount_minor_units": 5}, r"amount_minor_units: expected a whole number 0-4"),
        ({"columns": {"money": "x"}}, r"Valid: \[.*'currency'\]"),
    ],
)
def test_bad_amount_settings_are_refused(etl, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, {"etl": etl})


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "fraud_app.etl.amounts" and r.levelno == logging.WARNING]  # fmt: skip


def test_an_unmapped_currency_column_of_several_currencies_is_named(spark, tmp_path,
                                                                    caplog) -> None:  # fmt: skip
    currencies = ["EUR", "USD", "EUR", "JPY", "EUR", "usd"]
    files = {"a.csv": _csv(["10.5"] * 6, {"Currency": currencies})}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = _run(spark, tmp_path, files)
    assert result.output_rows == 6  # published as written, named
    assert (result.currency_column, result.currencies) == ("Currency", {"EUR": 3, "USD": 2,
                                                                        "JPY": 1})  # fmt: skip
    (said,) = _warnings(caplog)
    assert "column 'Currency' holds 3 currencies: 'EUR' 3, 'USD' 2, 'JPY' 1" in said
    assert "etl.columns.currency: Currency" in said and "etl.currency" in said


def test_one_currency_in_an_unmapped_column_is_recorded_without_a_warning(spark, tmp_path,
                                                                          caplog) -> None:  # fmt: skip
    files = {"a.csv": _csv(["10.5"] * 3, {"ccy": ["EUR"] * 3})}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = _run(spark, tmp_path, files)
    assert result.currencies == {"EUR": 3} and not _warnings(caplog)


def _whole(n: int) -> list[str]:
    return [str(500 + 97 * i) for i in range(n)]  # 500 .. ~4,300: cents of 5 .. 43


class _Said(logging.Handler):
    """The WARNINGs of fraud_app.etl.amounts while a module fixture loads (caplog is a
    test's own)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run_saying(spark, base, files: dict[str, object], **etl):
    """`_run` and the amount WARNINGs it raised."""
    amounts, said = logging.getLogger("fraud_app.etl.amounts"), _Said()
    level = amounts.level
    amounts.addHandler(said)
    amounts.setLevel(logging.WARNING)
    try:
        return _run(spark, base, files, **etl), said.messages
    finally:
        amounts.removeHandler(said)
        amounts.setLevel(level)


# One load of whole amounts with a large median (40, ids t) and of amounts beyond a long
# (30 x e39, ids e), which a raised etl.bounds.max_amount admits: the minor-unit look of
# both, read by the two tests below; was a load each (session 55)
WHOLE_AND_BIG = {
    "a.csv": _csv(_whole(40)),
    "b.csv": _csv([f"{i}e39" for i in range(1, 31)], ids="e"),
}


@pytest.fixture(scope="module")
def whole_and_big(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("whole-and-big")
    return _run_saying(spark, base, WHOLE_AND_BIG, bounds={"max_amount": 1e300})


def test_whole_amounts_with_a_large_median_look_like_minor_units(whole_and_big) -> None:
    result, said = whole_and_big
    assert result.output_rows == 70 and result.amounts_look_minor["rows"] == 70
    assert result.amounts_look_minor["median"] >= 1000  # 3,798: a whole one
    (said,) = said
    assert "they look like minor units" in said and "etl.amount_minor_units: 2" in said


@pytest.mark.parametrize(
    ("amounts", "etl"),
    [
        (_whole(40), {"amount_minor_units": 0}),  # said to be major units (JPY)
        # one fraction among whole amounts: the first load of `default_first`
        ([str(10 + i) for i in range(40)], {}),  # whole but small: major units
        (_whole(10), {}),  # too few rows to tell
    ],
)
def test_no_minor_unit_warning(spark, tmp_path, caplog, amounts, etl) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = _run(spark, tmp_path, {"a.csv": _csv(amounts)}, **etl)
    assert result.amounts_look_minor == {} and not _warnings(caplog)


# One fraction among whole amounts (a table loaded in cents read as written: 1234.5 the
# one row that says otherwise): no minor-unit look. The first load of the append tests and
# test_no_minor_unit_warning's case of one fraction, which was a load of its own (session 55)
ONE_FRACTION = [*_whole(38), "1234.5", "600"]


@pytest.fixture(scope="module")
def default_first(spark, tmp_path_factory):
    """A first load of ONE_FRACTION read with the default settings: its folder (in/,
    work/), result and the amount WARNINGs it raised; each append test appends to its own
    copy (`_copy`)."""
    base = tmp_path_factory.mktemp("default-first")
    return (base, *_run_saying(spark, base, {"a.csv": _csv(ONE_FRACTION)}))


def test_one_fraction_among_whole_amounts_raises_no_minor_unit_warning(default_first) -> None:
    _, result, said = default_first
    assert result.output_rows == len(ONE_FRACTION)
    assert result.amounts_look_minor == {} and not said


def _copy(first, tmp_path):
    """A copy of a first load's folder as tmp_path (in/, work/; copy2 keeps mtimes), its
    input file removed: the next delivery goes beside it."""
    shutil.copytree(first[0], tmp_path, dirs_exist_ok=True)
    (tmp_path / "in" / "a.csv").unlink()
    return first[1]


def test_the_minor_unit_look_is_asked_of_a_first_load_only(spark, tmp_path, caplog,
                                                           default_first) -> None:  # fmt: skip
    first = _copy(default_first, tmp_path)
    assert first.output_rows == 40 and first.amounts_look_minor == {}  # one fraction
    config = load_config(None, {"paths.root": str(tmp_path / "work"), "etl": {
        "input": str(tmp_path / "in"), "mode": "append"}})  # fmt: skip
    (tmp_path / "in" / "b.csv").write_text(_csv(_whole(30), ids="u"))
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        run_etl(spark, config)
    assert not _warnings(caplog)


def test_an_append_converts_as_the_first_load_did(spark, tmp_path, caplog,
                                                  cents_and_rates) -> None:  # fmt: skip
    _copy(cents_and_rates, tmp_path)
    day = "transaction_id,card_id,timestamp,amount,label,currency\nu1,c1,2024-01-07 10:00:00,2000,,USD\n"
    (tmp_path / "in" / "b.csv").write_text(day)
    config = load_config(None, {"paths.root": str(tmp_path / "work"), "etl": {
        "input": str(tmp_path / "in"), "mode": "append", **CENTS_AND_RATES}})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = run_etl(spark, config)
    assert not _warnings(caplog)  # read as the run before it read
    assert (result.previous_rows, result.output_rows) == (2, 3)
    amounts = {t: r["amount"] for t, r in _rows(spark, result).items()}
    assert amounts == {"t0": 10.0, "t1": 5.0, "u1": 10.0}


def test_an_append_read_otherwise_than_the_table_is_named(spark, tmp_path, caplog,
                                                         default_first) -> None:  # fmt: skip
    # the table loaded in cents read as written, then the setting added for the next day:
    # the table mixes 500 (5.00 read as written) with 11.00
    first = _copy(default_first, tmp_path)
    assert first.amount_reading == {"minor_units": None, "currency": None}
    (tmp_path / "in" / "b.csv").write_text(_csv(["1100"], ids="u"))
    etl = {"input": str(tmp_path / "in"), "mode": "append", "amount_minor_units": 2}
    config = load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = run_etl(spark, config)
    assert result.amount_reading == {"minor_units": 2, "currency": None}
    (said,) = _warnings(caplog)
    assert "reads amounts with etl.amount_minor_units 2 and etl.currency None" in said
    assert "read them with None and None" in said


def test_huge_amounts_under_minor_units_are_quarantined_not_a_crash(spark, minor,
                                                                    whole_and_big) -> None:  # fmt: skip
    # the integrality test was floor(), a long: 1e308 (the generator's absurd amount)
    # stopped the whole run with ARITHMETIC_OVERFLOW (ANSI mode) instead of its rule
    assert_accounted(spark, minor, MINOR_RECORDS)
    assert _rows(spark, minor)["h2"]["amount"] == 10.5
    q = _quarantine(spark, minor)
    assert (q["h0"][0], q["h1"][0]) == ("amount_above_maximum", "non_finite_amount")
    # and the minor-unit look of amounts beyond a long, which a raised max_amount admits:
    # the 30 e39 rows published and counted in the look beside the 40 whole ones
    result, _ = whole_and_big
    assert result.output_rows == 70 and result.amounts_look_minor["rows"] == 70
    assert {t: r["amount"] for t, r in _rows(spark, result).items() if t.startswith("e")} == {
        f"e{i}": float(f"{i + 1}e39") for i in range(30)
    }


def test_a_numeric_currency_code_written_by_a_float_is_that_code(spark, tmp_path) -> None:
    # review41a: pandas writes an integer column with a gap as float64, so the ISO numeric
    # codes arrive as 978.0 / '978.0'; every row was quarantined as unknown_currency
    # "currency '978.0'" though 978 is the base (an id's '123.0' is 123 already)
    import pandas as pd

    frame = pd.DataFrame({
        "transaction_id": ["a", "b", "c"], "card_id": ["c1"] * 3,
        "timestamp": ["2024-01-05 10:00:00"] * 3, "amount": [1050.0, 2000.0, 300.0],
        "label": [0, 0, 0], "currency": [978.0, None, 840.0],
    })  # fmt: skip
    result = _run(spark, tmp_path, {"a.parquet": frame}, amount_minor_units=2,
                  currency={"base": 978, "rates": {840: 0.5}})  # fmt: skip
    assert_accounted(spark, result, 3)
    assert {t: r["amount"] for t, r in _rows(spark, result).items()} == {"a": 10.5, "c": 1.5}
    assert _quarantine(spark, result)["b"][0] == "unknown_currency"


def test_an_amount_that_overflows_only_by_its_rate_is_named_so(spark, tmp_path) -> None:
    # review41a: a finite 1e308 times a rate of 1e10 is infinite; the detail said
    # "amount '1e308' is NaN or infinite", naming neither the conversion nor the rate
    csv = _csv(["1e308", "Infinity", "10"], {"currency": ["USD", "USD", "USD"]})
    result = _run(spark, tmp_path, {"a.csv": csv},
                  currency={"base": "EUR", "rates": {"USD": 1e10}})  # fmt: skip
    q = _quarantine(spark, result)
    assert q["t0"][0] == "non_finite_amount"
    assert q["t0"][1] == (
        "amount '1e308' is finite as written, but EUR, etl.currency convert "
        "it to Infinity (beyond a double): check the rate or the amount"
    )
    assert q["t1"] == ("non_finite_amount", "amount 'Infinity' is NaN or infinite")
