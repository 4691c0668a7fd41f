"""Country codes in different ISO 3166-1 forms (probe54a): a merchant country as alpha-2
(`US`) beside a card country as numeric (`840`) or alpha-3 (`USA`), as acquirer and
issuer fields often are. Published as delivered, `is_cross_border` was 1 on every row and
one country was two or three categories to the encodings and to a one_hot `values:`
list, without a word. Now every known code is published as alpha-2 (the generator's
form), the report counts the codes converted and the unknown ones kept (a WARNING names
them), a listed one_hot value is spelt the same way, and an append onto a table of an
earlier reading that holds `840` is refused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app import schema
from fraud_app.errors import DataIntegrityError
from fraud_app.features.row_kinds import CrossBorder, OneHot
from fraud_app.features.rowwise import rowwise_column
from tests.fraud_app.etl.test_delivery_drift import _day, _etl
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

CSV = (
    "transaction_id,card_id,timestamp,amount,label,country,card_country\n"
    "t1,k1,2025-03-01 10:00:00,1.5,0,US,840\n"  # numeric
    "t2,k1,2025-03-01 10:01:00,1.5,0,US,USA\n"  # alpha-3
    "t3,k1,2025-03-01 10:02:00,1.5,0,US,us\n"  # alpha-2, lower case
    "t4,k1,2025-03-01 10:03:00,1.5,0,AU,36\n"  # numeric without its zero (a number column)
    "t5,k1,2025-03-01 10:04:00,1.5,0,AU,840.0\n"  # numeric through a float: cross-border
    "t6,k1,2025-03-01 10:05:00,1.5,0,DEU,276\n"  # both converted
    "t7,k1,2025-03-01 10:06:00,1.5,0,XK,XK\n"  # user-assigned (Kosovo): no ISO code, kept
    "t8,k1,2025-03-01 10:07:00,1.5,0,Germany,999\n"  # no code at all; 999 unassigned
    "t9,k1,2025-03-01 10:08:00,1.5,0,,US\n"  # null stays null
)


def test_every_form_of_a_country_code_is_published_as_alpha_2(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": CSV})
    assert_accounted(spark, result, 9)
    rows = _rows(spark, result)
    assert {t: (r["country"], r["card_country"]) for t, r in rows.items()} == {
        "t1": ("US", "US"), "t2": ("US", "US"), "t3": ("US", "US"), "t4": ("AU", "AU"),
        "t5": ("AU", "US"), "t6": ("DE", "DE"), "t7": ("XK", "XK"), "t8": ("Germany", "999"),
        "t9": (None, "US"),
    }  # fmt: skip
    # the features read the one spelling: a domestic row is no cross-border row, and a
    # one_hot of 'USA' is the rows of US
    table = spark.read.parquet(result.output_path)
    flags = table.select(
        "transaction_id",
        rowwise_column(CrossBorder()).alias("cross"),
        rowwise_column(OneHot(column="card_country", value="USA")).alias("us"),
    )
    got = {r.transaction_id: (r.cross, r.us) for r in flags.collect()}
    assert got == {
        "t1": (0.0, 1.0), "t2": (0.0, 1.0), "t3": (0.0, 1.0), "t4": (0.0, 0.0),
        "t5": (1.0, 1.0), "t6": (0.0, 0.0), "t7": (0.0, 0.0), "t8": (1.0, 0.0),
        "t9": (None, 1.0),
    }  # fmt: skip
    assert result.country_codes == {
        "country": {"converted": 1, "unknown": 2, "unknown_examples": ["Germany", "XK"]},
        "card_country": {"converted": 6, "unknown": 2, "unknown_examples": ["999", "XK"]},
    }
    report = json.loads(Path(result.report_path).read_text())
    assert report["country_codes"] == result.country_codes
    assert report["code_reading"] == schema.CODE_READING
    (line,) = [r.getMessage() for r in caplog.records if "no ISO 3166-1 code" in r.getMessage()]
    assert "country (export column 'country'): 2 row(s), e.g. 'Germany' .. 'XK'" in line
    assert "card_country (export column 'card_country'): 2 row(s), e.g. '999' .. 'XK'" in line


def test_a_table_of_alpha_2_codes_reports_nothing_converted(spark, tmp_path) -> None:
    result = _etl(spark, tmp_path, _day("2024-03-01"), "in", "replace")  # country DE
    assert result.country_codes == {}
    assert {r.country for r in spark.read.parquet(result.output_path).collect()} == {"DE"}


def test_an_append_onto_a_table_of_numeric_countries_is_refused(spark, tmp_path) -> None:
    """A table of session 53's reading (`integer_text_padded`) holding country '276': an
    append of 'DE' rows would put two spellings of Germany into it."""
    table = _older_table(spark, tmp_path, "integer_text_padded", "276")
    before = (table / "_etl_report.json").read_text()
    with pytest.raises(DataIntegrityError) as caught:
        _etl(spark, tmp_path, _day("2024-03-02", prefix="n"), "new", "append")
    said = str(caught.value)
    assert "spelt code columns otherwise ('integer_text_padded'; now" in said
    assert "holds codes this release publishes otherwise (country: '276';" in said
    assert "a country 'USA', 'us' or '840' is 'US'" in said and "Nothing was written" in said
    assert "etl.mode: replace over every delivery" in said
    assert spark.read.parquet(str(table)).count() == 10
    assert (table / "_etl_report.json").read_text() == before


def _older_table(spark, tmp_path, reading: str, country: str) -> Path:
    """A table as an earlier release published it: its report's `code_reading` `reading`,
    every row's country `country`."""
    first = _etl(spark, tmp_path, _day("2024-03-01"), "old", "replace")
    table = Path(first.output_path)
    report = json.loads((table / "_etl_report.json").read_text())
    report["code_reading"] = reading
    rows = spark.read.parquet(str(table)).withColumn("country", F.lit(country))
    rows = spark.createDataFrame(rows.collect(), rows.schema)
    shutil.rmtree(table)
    rows.write.partitionBy("event_date").parquet(str(table))
    (table / "_etl_report.json").write_text(json.dumps(report))
    return table


def test_one_hot_values_and_code_spelling_read_every_form() -> None:
    assert [schema.code_spelling("card_country", v) for v in ("840", "USA", "us", "36")] == [
        "US", "US", "US", "AU",
    ]  # fmt: skip
    assert schema.code_spelling("country", "XK") == "XK"  # unknown: as written
    assert schema.code_spelling("mcc", "USA") == "USA"  # not a country column
    assert OneHot(column="country", value=840).name == "country_is_US"
    assert OneHot(column="card_country", value="deu").name == "card_country_is_DE"
    # the table: every officially assigned code, each form one country
    from fraud_app.etl import iso3166  # imported here: on BASE the asserts above fail first

    assert len(iso3166.ALPHA2_CODES) == 249 and len(iso3166.ALPHA2) == 3 * 249 + 1  # + UK
    assert iso3166.alpha2("ARE") == iso3166.alpha2("784") == "AE"


def test_the_table_matches_the_jvms_iso_3166_data(spark) -> None:
    """The JDK's Locale data (alpha-2 and alpha-3; it has no numeric codes) agree with the
    table on every code both hold, and it holds none of the table's assigned codes less."""
    from fraud_app.etl import iso3166

    jvm = spark.sparkContext._jvm
    jdk = {
        cc: jvm.java.util.Locale("", cc).getISO3Country()
        for cc in jvm.java.util.Locale.getISOCountries()
    }
    ours = {a2: code for code, a2 in iso3166.ALPHA2.items() if len(code) == 3 and code.isalpha()}
    assert set(ours) <= set(jdk), sorted(set(ours) - set(jdk))
    assert {cc: jdk[cc] for cc in ours} == ours


def test_unknown_codes_are_named_once_per_table(spark, tmp_path, caplog) -> None:
    """A daily export that writes Kosovo as XK: named on the first run, counted on every
    run, named again only for a code the table's last report did not name."""
    first, day = _day("2024-03-01"), _day("2024-03-02", prefix="n")
    first["country"] = day["country"] = "XK"
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        _etl(spark, tmp_path, first, "old", "replace")
        told = [r.getMessage() for r in caplog.records if "no ISO 3166-1 code" in r.getMessage()]
        caplog.clear()
        result = _etl(spark, tmp_path, day, "new", "append")
    assert len(told) == 1 and "country (export column 'country'): 10 row(s)" in told[0]
    assert result.country_codes == {
        "country": {"converted": 0, "unknown": 10, "unknown_examples": ["XK"]}
    }
    assert not [r for r in caplog.records if "no ISO 3166-1 code" in r.getMessage()]


def test_an_unknown_letter_code_is_one_value_in_any_case(spark, tmp_path) -> None:
    """review54a: a known code is read in any case (`us` is `US`), an unknown one was kept
    as written: a merchant country `XK` beside a card country `xk` (or `XKX` / `xkx`) was
    two countries, the row cross-border. Now such a code of two or three letters is upper
    case; other unknown values (`Germany`, `999`) stay as written."""
    assert [schema.code_spelling("country", v) for v in ("xk", "xkx", "Germany", "999")] == [
        "XK", "XKX", "Germany", "999",
    ]  # fmt: skip
    csv = (
        "transaction_id,card_id,timestamp,amount,label,country,card_country\n"
        "u1,k1,2025-03-01 10:00:00,1.5,0,XK,xk\n"
        "u2,k1,2025-03-01 10:01:00,1.5,0,xkx,XKX\n"
        "u3,k1,2025-03-01 10:02:00,1.5,0,Germany,germany\n"  # a name: as written
    )
    result, got = _published(spark, tmp_path, csv)
    assert got == {
        "u1": ("XK", "XK", 0.0), "u2": ("XKX", "XKX", 0.0), "u3": ("Germany", "germany", 1.0),
    }  # fmt: skip
    assert result.country_codes["card_country"]["unknown"] == 3


def _published(spark, tmp_path, csv: str):
    """The ETL result of one CSV and {transaction_id: (country, card_country, cross-border)}."""
    result = _run(spark, tmp_path, {"a.csv": csv})
    table = spark.read.parquet(result.output_path)
    got = {
        r.transaction_id: (r.country, r.card_country, r.cross)
        for r in table.select("*", rowwise_column(CrossBorder()).alias("cross")).collect()
    }
    return result, got


def test_the_reading_is_a_few_round_trips_not_one_per_code(spark) -> None:
    """The table of 747 forms and the list of 249 alpha-2 codes reach the JVM as SQL text:
    built literal by literal they were ~1,750 JVM round trips per country column, more than
    the rest of an ETL run's annotation (lead, session 54); the same expressions."""
    from fraud_app.etl import country_codes
    from tests.fraud_app.etl.test_shared_columns import _round_trips

    frame = spark.createDataFrame([("840",), ("usa",), ("xk",), ("Germany",), (None,)], "c string")
    country_codes.alpha2(F.col("c"))  # warm: py4j's classes
    trips = _round_trips(lambda: country_codes.alpha2(F.col("c")))
    assert trips < 40, trips
    read = [r[0] for r in frame.select(country_codes.alpha2(F.col("c"))).collect()]
    assert read == ["US", "US", "XK", "Germany", None]
    stage = frame.select(F.col("c").alias("country"), F.lit(None).cast("string").alias("reason"))
    trips = _round_trips(lambda: country_codes.summary_columns())
    assert trips < 120, trips
    unknown = stage.select(country_codes.summary_columns()["__cc_unknown_country"]).first()[0]
    assert unknown == 4  # 840, usa, xk, Germany are not alpha-2 as written


def test_uk_is_the_united_kingdom(spark, tmp_path) -> None:
    """Lead, session 55: `UK` is no assigned ISO 3166-1 code but reserved for the United
    Kingdom at its request, and many exports write it so. Kept as delivered, a merchant
    country `UK` beside a card country `826` or `GBR` was two countries: every such row
    cross-border, the United Kingdom two categories to the encodings, without a word but
    the unknown-code WARNING. Now `UK`, in any case, is `GB`; a table published by
    session 54's reading holding `UK` is refused an append (the two spellings in one
    table), one of `GB` is appended to."""
    assert [schema.code_spelling("country", v) for v in ("UK", "uk", "GBR", "826")] == ["GB"] * 4
    assert OneHot(column="country", value="UK").name == "country_is_GB"
    csv = (
        "transaction_id,card_id,timestamp,amount,label,country,card_country\n"
        "g1,k1,2025-03-01 10:00:00,1.5,0,UK,826\n"
        "g2,k1,2025-03-01 10:01:00,1.5,0,uk,GBR\n"
        "g3,k1,2025-03-01 10:02:00,1.5,0,GB,UK\n"
        "g4,k1,2025-03-01 10:03:00,1.5,0,UK,US\n"  # truly cross-border
        "g5,k1,2025-03-01 10:04:00,1.5,0,UKR,UA\n"  # Ukraine: not the United Kingdom
    )
    result, got = _published(spark, tmp_path, csv)
    assert got == {
        "g1": ("GB", "GB", 0.0), "g2": ("GB", "GB", 0.0), "g3": ("GB", "GB", 0.0),
        "g4": ("GB", "US", 1.0), "g5": ("UA", "UA", 0.0),
    }  # fmt: skip
    assert result.country_codes == {
        "country": {"converted": 4, "unknown": 0, "unknown_examples": []},
        "card_country": {"converted": 3, "unknown": 0, "unknown_examples": []},
    }


@pytest.mark.parametrize("published, refused", [("UK", True), ("GB", False)])
def test_an_append_onto_a_table_of_session_54_holding_uk(
    spark, tmp_path, published, refused
) -> None:
    table = _older_table(spark, tmp_path, "integer_text_padded_country_alpha2", published)
    if refused:
        with pytest.raises(DataIntegrityError, match=r"\(country: 'UK';.* 'UK' is 'GB'"):
            _etl(spark, tmp_path, _day("2024-03-02", prefix="n"), "new", "append")
        assert spark.read.parquet(str(table)).count() == 10
    else:
        result = _etl(spark, tmp_path, _day("2024-03-02", prefix="n"), "new", "append")
        assert spark.read.parquet(str(table)).count() == 20
        assert json.loads(Path(result.report_path).read_text())["code_reading"] == (
            schema.CODE_READING
        )
