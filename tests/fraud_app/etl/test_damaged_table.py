"""A table with a damaged part file (truncated by a full disk or a partial copy, changed
after it was written) is one error naming the file and the fix, not a Java traceback and
exit 1 (`fraud-app evaluate` on such a feature table did that)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.table_read import read_table

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("checksum", [True, False])  # False: copied without its .crc file
def test_a_truncated_part_file_is_named(spark, tmp_path, checksum):
    table = tmp_path / "features"
    spark.range(200).selectExpr("id", "id % 2 AS day").write.partitionBy("day").parquet(str(table))
    part = sorted(table.glob("day=0/part-*.parquet"))[0]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    if not checksum:
        for crc in table.rglob(".*.crc"):
            crc.unlink()
    with pytest.raises(DataIntegrityError) as info:
        read_table(spark, str(table), "feature table", "features")
    message = str(info.value)
    assert message.startswith(f"feature table {table}: the file ")
    assert Path(message.split("the file ", 1)[1].split(" ", 1)[0]).name == part.name
    assert message.endswith(
        "it was truncated or changed after it was written. Rebuild the table (`fraud-app "
        "features`), or put back that file from a copy"
    )


def _damage_last(table: Path) -> Path:
    """Truncate the last part file of `table` (read_table reads another's footer, so the
    damage is met by a later action of the step, not by read_table)."""
    part = sorted(table.rglob("part-*.parquet"))[-1]
    part.write_bytes(part.read_bytes()[:100])
    for crc in table.rglob(".*.crc"):
        crc.unlink()
    return part


@pytest.mark.slow  # generate, etl, features, then train on a loaded machine: minutes
def test_a_file_damaged_past_the_first_read_is_one_line_in_every_step(tmp_path, capsys):
    """features reading the canonical table and train reading the feature table meet the
    damaged file at an action after read_table: a Java FAILED_READ_FILE trace, exit 1."""
    from pipelines.cli import main
    from tests.fraud_app.test_cli_data_steps import _demo_config

    config = str(_demo_config(tmp_path, n_transactions=2_000, n_cards=200, partitions=2))
    for step in ("generate", "etl", "features"):
        assert main(["-c", config, step]) == 0, step
    work = tmp_path / "work"
    for step, table, what, rebuild in [
        ("features", work / "canonical", "canonical table", "etl"),
        ("train", work / "features", "feature table", "features"),
    ]:
        capsys.readouterr()
        part = _damage_last(table)
        assert main(["-c", config, step]) == 2, step
        out = capsys.readouterr().err
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in out, out[-3000:]
        err = errors[0]
        # named from the table's record of its files (session 30) before Spark reads it
        assert err.startswith(
            f"error: {what} {table}: its data files are not the ones `fraud-app {rebuild}` "
            "wrote (its _files.json): of the "
        ), err
        assert "1 changed (event_date=" in err and f"/{part.name} 100 bytes, written " in err
        assert err.endswith(
            f"Put back the files from a copy, or rebuild the table (`fraud-app {rebuild}`); to "
            f"read the table as it is now, delete {table}/_files.json"
        ), err
        (table / "_files.json").unlink()  # a table without the record: met by Spark
        assert main(["-c", config, step]) == 2, step
        out = capsys.readouterr().err
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in out, out[-3000:]
        err = errors[0]
        assert "(not a Parquet file: no Parquet footer at its end)" in err, err
        assert err.startswith(f"error: {what} {table}: the file "), err
        assert part.name in err and err.endswith(
            f"it was truncated or changed after it was written. Rebuild the table (`fraud-app "
            f"{rebuild}`), or put back that file from a copy"
        ), err
