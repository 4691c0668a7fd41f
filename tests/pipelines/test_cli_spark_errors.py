"""User mistakes that are found once Spark runs, through the real CLI in-process (the
shared local session): exit code 2, one `error:` line naming what was wrong, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main

pytestmark = pytest.mark.spark


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and len(errors) == 1, err[-2000:]
    return code, errors[0]


def _config(tmp_path: Path, text: str = "") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n{text}")
    return str(path)


def test_features_on_a_missing_canonical_table(spark, tmp_path, capsys):
    code, line = _cli(
        capsys, "-c", _config(tmp_path), "features", "--input", str(tmp_path / "nope")
    )
    assert code == 2
    assert line == (
        f"error: canonical table {tmp_path / 'nope'} does not exist; run `fraud-app etl` first"
    )


HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label\n"


def test_steps_after_an_etl_that_rejected_every_record(spark, tmp_path, capsys):
    config = _config(tmp_path)
    raw = tmp_path / "work" / "raw"
    raw.mkdir(parents=True)
    # a delivery with another timestamp format and a bad amount: every record is rejected
    (raw / "a.csv").write_text(HEADER + "t2,c,m,01/02/2024,5,0\nt3,c,m,2024-01-02 10:00:00,x,0\n")
    assert main(["-c", config, "etl"]) == 0
    capsys.readouterr()
    table = tmp_path / "work" / "canonical"
    for command in ("validate", "features"):
        code, line = _cli(capsys, "-c", config, command)
        assert code == 2
        assert line.endswith(
            f"canonical table {table} holds no Parquet data (no rows) (its step ran: see "
            f"{table}/_etl_report.json; e.g. an ETL run that quarantined every record)"
        ), line


@pytest.mark.parametrize("command", [["features"], ["validate"]])
def test_a_canonical_folder_without_data(spark, tmp_path, capsys, command):
    (tmp_path / "work" / "canonical").mkdir(parents=True)
    code, line = _cli(capsys, "-c", _config(tmp_path), *command)
    assert code == 2
    assert line.endswith(
        f"canonical table {tmp_path / 'work' / 'canonical'} holds no Parquet data (no rows); "
        "run `fraud-app etl` first"
    )


def test_a_validate_input_given_by_hand_names_the_flag(spark, tmp_path, capsys):
    missing = tmp_path / "elsewhere"
    code, line = _cli(capsys, "-c", _config(tmp_path), "validate", "--input", str(missing))
    assert code == 2
    assert line.endswith(
        f"validate: canonical table {missing} does not exist; check --input (a Parquet table "
        "as `fraud-app etl` writes it)"
    ), line


def test_an_error_a_spark_task_raised_is_the_one_line(spark, capsys):
    """A fraud_app error raised on an executor reaches the driver as a PythonException
    ('An exception was thrown from the Python worker: Traceback ...'); the CLI prints the
    error itself, whichever step ran the action (it re-raised: a traceback, exit 1)."""
    from pipelines.cli_failures import failed

    def fail(batches):
        from fraud_app.errors import SchemaError

        for _ in batches:
            raise SchemaError("features column 'x' holds 2 NaN value(s); impute them")
        yield from ()

    with pytest.raises(Exception, match="Python worker") as info:
        spark.range(3).mapInArrow(fail, "id long").collect()
    assert failed("score", info.value) == 2
    err = capsys.readouterr().err
    assert err == "error: features column 'x' holds 2 NaN value(s); impute them\n"
