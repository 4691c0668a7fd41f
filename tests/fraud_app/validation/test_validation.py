"""Great Expectations validation: a clean table passes, a broken one raises naming the
check, the column and failing ids, severities and reports behave."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from fraud_app.config import AppConfig, load_config
from fraud_app.errors import ConfigError, FeatureSpecError, SchemaError, ValidationFailedError
from fraud_app.schema import REQUIRED_COLUMNS as REQUIRED
from fraud_app.validation.suites import OWN_CHECKS, canonical_checks, feature_checks
from fraud_app.validation.validate import validate_canonical, validate_features

CANONICAL_SCHEMA = (
    "transaction_id string, card_id string, merchant_id string, timestamp timestamp, amount double, "
    "label int, label_time timestamp, mcc string, channel string, country string, card_country string, "
    "device_id string, fraud_pattern string"
)
T0 = dt.datetime(2024, 1, 1)


def _rows(n: int = 40) -> list[tuple]:
    rows = []
    for i in range(n):
        ts = T0 + dt.timedelta(hours=i)
        label = 1 if i % 20 == 0 else 0
        amount = 0.0 if i == 5 else 10.0 + i  # a zero-amount authorisation is normal
        rows.append(
            (f"t{i:03d}", f"c{i % 5}", f"m{i % 3}", ts, amount, label, ts + dt.timedelta(days=3),
             "5411", ["POS", "ECOM", "ATM"][i % 3], "CN", "CN", None, None)
        )  # fmt: skip
    return rows


def _config(tmp_path: Path, **canonical) -> AppConfig:
    checks = {
        "reference_time": "2024-01-03T00:00:00",
        "label_rate_min": 0.01,
        "label_rate_max": 0.2,
        **canonical,
    }
    return load_config(
        None, {"paths.root": str(tmp_path), "validation": {"canonical": checks, "examples": 3}}
    )


@pytest.mark.spark
def test_clean_table_passes_and_writes_json_and_html(spark, tmp_path) -> None:
    df = spark.createDataFrame(_rows(), CANONICAL_SCHEMA)
    # data ends 2024-01-02 15:00; a reference time 10 days later makes freshness fail,
    # but it is a warning: reported, not raised
    cfg = _config(tmp_path, reference_time="2024-01-12T00:00:00")
    report = validate_canonical(spark, df, cfg)
    assert report.success and [w.name for w in report.warnings] == ["timestamp:freshness"]
    assert {r.name for r in report.results} == {
        c.name for c in canonical_checks(cfg.validation.canonical)
    }
    saved = json.loads(Path(report.json_path).read_text())
    assert (
        saved["success"] is True
        and saved["n_warnings"] == 1
        and len(saved["results"]) == len(report.results)
    )
    page = Path(report.html_path).read_text()
    assert Path(report.html_path).parent == tmp_path / "reports"
    assert "timestamp:freshness" in page and "PASSED" in page
    assert "<script" not in page and "http" not in page and "<link" not in page


@pytest.mark.spark
def test_broken_table_raises_naming_check_column_and_ids(spark, tmp_path) -> None:
    rows = _rows()
    rows[3] = (*rows[3][:4], -5.0, *rows[3][5:])  # negative amount
    rows[7] = (*rows[7][:8], "MOBILE", *rows[7][9:])  # unknown channel
    rows[9] = ("t001", *rows[9][1:])  # duplicate id
    rows[11] = (*rows[11][:6], T0 - dt.timedelta(days=1), *rows[11][7:])  # label before the txn
    df = spark.createDataFrame(rows, CANONICAL_SCHEMA)
    # data ends 2024-01-02 15:00, 9 days before the reference time
    cfg = _config(
        tmp_path, reference_time="2024-01-12T00:00:00", severities={"timestamp:freshness": "error"}
    )
    with pytest.raises(ValidationFailedError) as info:
        validate_canonical(spark, df, cfg, run_name="nightly-1")
    message = str(info.value)
    assert "amount:range (ExpectColumnValuesToBeBetween on column 'amount')" in message
    # every failure: observed vs expected and the setting that changes it
    assert (
        "timestamp:freshness (ExpectColumnMaxToBeBetween on column 'timestamp'): observed 2024-01-02 15:00:00;"
        " expected newest timestamp in [2024-01-10 00:00:00, 2024-01-12 00:00:00] (reference time - 48 h,"
        " reference time); setting: validation.canonical.reference_time / validation.canonical.max_staleness_hours"
    ) in message
    assert "expected 0 <= amount <= 1e+06" in message
    assert "setting: validation.canonical.min_amount / validation.canonical.max_amount" in message
    failures = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(failures) == 5 and all("; expected " in f and "; setting: " in f for f in failures)
    assert "transaction_id=t003" in message and "amount=-5.0" in message
    assert "channel:allowed" in message and "transaction_id=t007" in message and "MOBILE" in message
    assert "transaction_id:unique" in message and "t001" in message
    assert "label_time:after_timestamp" in message
    assert "Full report:" in message
    saved = json.loads((tmp_path / "reports" / "canonical_validation-nightly-1.json").read_text())
    failed = {r["name"] for r in saved["results"] if not r["success"]}
    assert failed == {"amount:range", "channel:allowed", "transaction_id:unique", "label_time:after_timestamp",
                      "timestamp:freshness"}  # fmt: skip
    assert "FAILED" in (tmp_path / "reports" / "canonical_validation-nightly-1.html").read_text()


@pytest.mark.spark
def test_feature_table_checks(spark, tmp_path) -> None:
    df = spark.createDataFrame(
        [
            ("a", 1.0, 5, 0.5, 1),
            ("b", float("nan"), 6, 0.2, 0),
            ("c", float("inf"), None, 0.9, 0),
            ("d", 2.0, 7, 1.5, 0),
        ],
        "transaction_id string, amount_log double, card_count_24h int, ratio double, label int",
    )
    cfg = load_config(
        None,
        {
            "paths.root": str(tmp_path),
            "validation.features.columns": {"ratio": {"min": 0, "max": 1}, "missing_feature": {}},
        },
    )
    with pytest.raises(ValidationFailedError) as info:
        validate_features(spark, df, cfg)
    message = str(info.value)
    assert (
        "expected values in [0, 1]; e.g. transaction_id=d, ratio=1.5; setting: validation.features.columns.ratio (min / max)"
        in message
    )
    assert (
        "amount_log:finite" in message
        and "transaction_id=b" in message
        and "transaction_id=c" in message
    )
    assert "card_count_24h:not_null" in message
    assert "ratio:range" in message and "transaction_id=d" in message
    assert "missing_feature:exists" in message
    [report] = (tmp_path / "reports").glob("features_validation-*.json")
    saved = json.loads(report.read_text())
    names = {r["name"]: r["success"] for r in saved["results"]}
    assert names["card_count_24h:finite"] and names["transaction_id:unique"]
    assert "label:finite" not in names  # label is excluded by default


def test_feature_suite_is_built_from_dtypes_and_config() -> None:
    cfg = load_config(
        None,
        {"validation.features.columns": {"x": {"min": 0, "nullable": True, "severity": "warning"}}},
    )
    checks = feature_checks(
        {"transaction_id": "string", "x": "double", "n": "bigint", "label": "int", "s": "string"},
        cfg.validation.features,
    )
    by_name = {c.name: c for c in checks}
    assert set(by_name) == {
        "table:row_count",
        "transaction_id:unique",
        "transaction_id:not_null",  # the key in every row (session 51)
        "x:exists",
        "x:range",
        "x:not_all_null",  # nullable, but not null in every row (session 49)
        "n:not_null",
        "n:finite",
    }
    assert by_name["x:range"].severity == "warning" and by_name["x:range"].kwargs["min_value"] == 0


def test_severity_overrides_are_checked() -> None:
    cfg = load_config(None, {"validation.canonical.severities": {"label:rate": "warning"}})
    checks = {c.name: c.severity for c in canonical_checks(cfg.validation.canonical)}
    assert checks["label:rate"] == "warning" and checks["amount:range"] == "error"
    # an unknown check name is refused when the config is read (it was at `validate`,
    # after `fraud-app run`'s ETL), naming the nearest check
    with pytest.raises(
        ConfigError,
        match=r"validation\.canonical\.severities: unknown check name\(s\) 'amount:positive'"
        r" \(did you mean 'amount:type'\?\)\. Valid: .*amount:range",
    ):
        load_config(None, {"validation.canonical.severities": {"amount:positive": "warning"}})
    with pytest.raises(ConfigError, match=r"validation\.canonical\.severities\.label:rate"):
        load_config(None, {"validation.canonical.severities": {"label:rate": "fatal"}})
    with pytest.raises(ConfigError, match=r"label_rate_min"):
        load_config(None, {"validation.canonical": {"label_rate_min": 0.5, "label_rate_max": 0.1}})


def test_reports_are_kept_per_run(tmp_path) -> None:
    from fraud_app.validation.report import ValidationReport

    report = ValidationReport("canonical", "t", "2024-01-05T10:00:00+00:00", ())
    first, second = report.save(tmp_path), report.save(tmp_path)  # same second: not overwritten
    named = report.save(tmp_path, "nightly")
    assert Path(first.json_path).name == "canonical_validation-20240105T100000Z.json"
    assert Path(second.json_path).name == "canonical_validation-20240105T100000Z-2.json"
    assert (
        Path(named.html_path).name == "canonical_validation-nightly.html" and named.run == "nightly"
    )
    assert (
        len(list(tmp_path.glob("*.json"))) == 3
        and json.loads(Path(named.json_path).read_text())["run"] == "nightly"
    )
    with pytest.raises(ConfigError, match=r"run name '../x' must be"):
        report.save(tmp_path, "../x")


def test_cli_silences_third_party_info_logs() -> None:
    import logging

    from pipelines.cli_logging import configure_logging

    root, gx = logging.getLogger(), logging.getLogger("great_expectations._docs_decorators")
    before = root.level, [(n, logging.getLogger(n).level) for n in ("great_expectations", "py4j")]
    try:
        configure_logging("INFO")
        assert root.isEnabledFor(logging.INFO) and not gx.isEnabledFor(logging.INFO)
        assert gx.isEnabledFor(logging.WARNING) and not logging.getLogger(
            "py4j.clientserver"
        ).isEnabledFor(logging.INFO)
        configure_logging("DEBUG")  # asking for everything gets everything
        assert gx.isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(before[0])
        for name, level in before[1]:
            logging.getLogger(name).setLevel(level)


def test_cli_silences_library_loggers_that_set_their_own_info_level() -> None:
    """Great Expectations' data_context.types.base sets its logger to INFO at import."""
    import io
    import logging

    from pipelines.cli_logging import configure_logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root, lib = logging.getLogger(), logging.getLogger("great_expectations.some.module")
    before = root.level, [(n, logging.getLogger(n).level) for n in ("great_expectations", "py4j")]
    root.addHandler(handler)
    lib.setLevel(logging.INFO)
    try:
        configure_logging("INFO")
        lib.info("library chatter")
        lib.warning("library warning")
        logging.getLogger("fraud_app.x").info("our summary")
        assert stream.getvalue().splitlines() == ["library warning", "our summary"]
        configure_logging("DEBUG")  # asking for everything gets everything again
        lib.info("chatter for debugging")
        assert stream.getvalue().splitlines()[-1] == "chatter for debugging"
    finally:
        root.removeHandler(handler)
        lib.setLevel(logging.NOTSET)
        root.setLevel(before[0])
        for name, level in before[1]:
            logging.getLogger(name).setLevel(level)
        for h in root.handlers:
            h.filters = [f for f in h.filters if type(f).__name__ != "_QuietLibraries"]


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.integration
def test_validate_command_output_is_not_buried_in_library_logs(tmp_path) -> None:
    """A real `etl` + `validate` in a fresh process: the summary lines are there, the ~200
    Great Expectations INFO lines are not."""
    import subprocess
    import sys

    raw = tmp_path / "raw"
    raw.mkdir()
    lines = ["transaction_id,card_id,merchant_id,timestamp,amount,label"]
    lines += [f"t{i},c{i % 3},m{i % 2},2024-01-01 0{i}:00:00,{i}.5,{int(i == 3)}" for i in range(8)]
    (raw / "tx.csv").write_text("\n".join(lines) + "\n")
    overrides = (
        f"from pipelines.cli import main; import sys; args = ['--log-level', 'INFO', '-c', {str(tmp_path / 'c.yaml')!r}]; "
        "sys.exit(main(args + ['etl']) or main(args + ['validate', '--no-fail', '--run-name', 'r1']))"
    )
    (tmp_path / "c.yaml").write_text(
        f"paths: {{root: {tmp_path}}}\nspark: {{master: 'local[1]'}}\n"
        "etl: {timestamp_format: 'yyyy-MM-dd HH:mm:ss'}\n"
        "validation: {canonical: {reference_time: 2024-01-01T08:00:00, label_rate_max: 0.5}}\n"
    )
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", overrides], cwd=repo, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "canonical validation of" in done.stderr
        and "Skipping registering function" not in done.stderr
    )
    assert not [
        line
        for line in done.stderr.splitlines()
        if " INFO great_expectations" in line or " INFO py4j" in line
    ]
    assert (tmp_path / "reports" / "canonical_validation-r1.json").is_file()


@pytest.mark.spark
def test_two_pass_run_equals_one_summary_validation_with_fewer_jobs(spark, tmp_path) -> None:
    """run_checks validates every check without example queries (the strict row-level ones
    in BOOLEAN_ONLY, their counts implied by a pass), then only the failed ones with
    examples: the results equal one SUMMARY validation of the whole suite; without
    examples, the failed checks still carry GX's counts."""
    from fraud_app.validation import runner

    rows = _rows()
    rows[3] = (*rows[3][:4], -5.0, *rows[3][5:])  # negative amount
    rows[7] = (*rows[7][:8], "MOBILE", *rows[7][9:])  # unknown channel
    rows[9] = ("t001", *rows[9][1:])  # duplicate id
    df = spark.createDataFrame(rows, CANONICAL_SCHEMA).cache()
    # the Great Expectations checks (event_date:volume and :matches_timestamp are our own)
    checks = [
        c for c in canonical_checks(_config(tmp_path).validation.canonical)
        if c.expectation not in OWN_CHECKS
    ]  # fmt: skip
    sc = spark.sparkContext
    sc.setJobGroup("one-pass", "one SUMMARY validation")
    one_pass = runner._validate(
        df, checks, "canonical",
        {"result_format": "SUMMARY", "partial_unexpected_count": 3,
         "unexpected_index_column_names": ["transaction_id"]},
    )  # fmt: skip
    expected = [runner._result(c, one_pass.get(c.name), False) for c in checks]
    sc.setJobGroup("two-pass", "two-pass validation")
    try:
        got = runner.run_checks(df, checks, "canonical", "transaction_id", 3)
    finally:
        sc.setJobGroup("", "")
    assert got == expected
    failed = {"amount:range", "channel:allowed", "transaction_id:unique"}
    assert {r.name for r in got if not r.success} == failed
    [amount] = [r for r in got if r.name == "amount:range"]
    assert any(e.get("transaction_id") == "t003" for e in amount.examples)
    # one SUMMARY validation starts example jobs (limit queries) for every check, passed or not
    jobs = {g: len(sc.statusTracker().getJobIdsForGroup(g)) for g in ("one-pass", "two-pass")}
    assert jobs["two-pass"] < jobs["one-pass"], jobs  # 32 vs 58 here; 10 vs 400 at 1M features
    no_examples = runner.run_checks(df, checks, "canonical", "transaction_id", 0)
    assert no_examples == [dataclasses.replace(r, examples=()) for r in expected]
    assert {r.name: r.unexpected_count for r in no_examples if not r.success} == {
        "amount:range": 1, "channel:allowed": 1, "transaction_id:unique": 2,
    }  # fmt: skip
    df.unpersist()


@pytest.mark.spark
def test_validate_names_a_table_of_the_other_kind(spark, tmp_path, capsys) -> None:
    """`validate --table features` on the canonical table passed (exit 0: the feature suite
    checks whatever numeric columns it finds); each way round is now one error line."""
    from pipelines.cli import main

    canonical = str(tmp_path / "canonical")
    spark.createDataFrame(_rows(), CANONICAL_SCHEMA).write.parquet(canonical)
    features = str(tmp_path / "features")
    spark.createDataFrame(
        [("t1", "c1", T0, 1, 2.0, [2.0]), ("t2", "c2", T0, 0, 3.0, [3.0])],
        "transaction_id string, card_id string, timestamp timestamp, label int, "
        "card_count_24h double, features array<double>",
    ).write.parquet(features)
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{root: {tmp_path}}}\n")
    args = ["-c", str(config), "validate", "--no-fail", "--input"]

    assert main([*args, canonical, "--table", "features"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {canonical} is not a feature table: it holds none of the ")
    assert "nor the vector column 'features'; it looks like the canonical table: use " in err
    assert main([*args, features, "--table", "canonical"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(
        rf"error: {features} is not a canonical table: it lacks required column\(s\) "
        r"\['amount'\]; it looks like the feature table: use --table features",
        err,
    ), err
    # the right kinds still pass: every check (--no-fail exits 0 on failed checks too since
    # session 48, so the exit code alone no longer says it)
    assert main([*args, features, "--table", "features"]) == 0
    assert json.loads(capsys.readouterr().out)["success"] is True
    assert main([*args, canonical, "--table", "canonical"]) == 0
    assert json.loads(capsys.readouterr().out)["success"] is True


@pytest.mark.spark
def test_the_python_api_refuses_a_table_of_the_other_kind(spark, tmp_path) -> None:
    """validate_features on the canonical table passed (its numeric columns are finite) and
    validate_canonical on a feature table failed check by check: only the CLI refused."""
    canonical = spark.createDataFrame(_rows(), CANONICAL_SCHEMA)
    features = spark.createDataFrame(
        [("t1", "c1", T0, 1, 2.0, [2.0])],
        "transaction_id string, card_id string, timestamp timestamp, label int, "
        "card_count_24h double, features array<double>",
    )
    cfg = _config(tmp_path)
    with pytest.raises(
        SchemaError,
        match=r"^canonical is not a feature table: it holds none of the 50 features .* nor the "
        r"vector column 'features'; it looks like the canonical table: use --table canonical "
        r"\(validate_canonical\)",
    ):
        validate_features(spark, canonical, cfg, table="canonical")
    with pytest.raises(
        SchemaError,
        match=r"^features is not a canonical table: it lacks required column\(s\) \['amount'\]; "
        r"it looks like the feature table: use --table features \(validate_features\)",
    ):
        validate_canonical(spark, features, cfg, table="features")
    assert not (tmp_path / "reports").exists()  # refused before any check ran


def test_the_canonical_kind_check_does_not_read_the_feature_specs(tmp_path) -> None:
    """A canonical table is judged by its own columns: feature specs that do not parse must
    not stop its validation (the kind check read them for every table)."""
    from fraud_app.validation.validate import require_table_kind

    bad_specs = tmp_path / "specs"
    bad_specs.mkdir()
    (bad_specs / "broken.yaml").write_text("features: [{kind: no_such_kind, name: x}]\n")
    cfg = load_config(None, {"paths.root": str(tmp_path), "features.spec_dir": str(bad_specs)})

    class Table:  # only the columns are read
        columns = [*REQUIRED, "mcc"]

    require_table_kind(Table(), "canonical", cfg, "canonical")  # no error
    with pytest.raises(FeatureSpecError, match="broken.yaml"):  # the other kind needs them
        require_table_kind(Table(), "features", cfg, "canonical")


@pytest.mark.spark
def test_unlabelled_rows_pass_and_the_fraud_rate_is_of_the_labelled_rows(spark, tmp_path) -> None:
    # the last 15 of 40 rows are not labelled yet (label, label_time null); 2 frauds among
    # the 25 labelled rows: a rate of 0.08, which passes [0.05, 0.2] (0.05 over all 40)
    rows = [(*r[:5], None, None, *r[7:]) if i >= 25 else r for i, r in enumerate(_rows())]
    df = spark.createDataFrame(rows, CANONICAL_SCHEMA)
    report = validate_canonical(spark, df, _config(tmp_path, label_rate_min=0.06))
    results = {r.name: r for r in report.results}
    assert report.success and "label:not_null" not in results
    assert float(results["label:rate"].observed) == pytest.approx(2 / 25)
    assert results["label:rate"].expected == "fraud rate of the labelled rows in [0.06, 0.2]"
    # a label that is neither 0, 1 nor null still fails
    rows[30] = (*rows[30][:5], 2, *rows[30][6:])
    with pytest.raises(ValidationFailedError, match=r"label:values .*t030"):
        validate_canonical(spark, spark.createDataFrame(rows, CANONICAL_SCHEMA), _config(tmp_path))


def test_a_key_column_the_feature_table_lacks_is_a_failed_check() -> None:
    # `key_column: txn_id` (the raw name) on a table keyed by transaction_id: the unique
    # check was left out without a word, and a table of duplicated rows passed
    cfg = load_config(None, {"validation.features.key_column": "txn_id"})
    checks = {c.name: c for c in feature_checks({"transaction_id": "string", "x": "double"},
                                                cfg.validation.features)}  # fmt: skip
    key = checks["txn_id:exists"]
    assert (key.expectation, key.severity, key.column) == ("ExpectColumnToExist", "error", "txn_id")
    assert key.setting == "validation.features.key_column"
