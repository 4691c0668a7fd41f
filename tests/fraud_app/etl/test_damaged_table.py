"""A table with a damaged part file (truncated by a full disk or a partial copy, changed
after it was written) is one error naming the file and the fix, not a Java traceback and
exit 1 (`fraud-app evaluate` on such a feature table did that)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import read_table

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
