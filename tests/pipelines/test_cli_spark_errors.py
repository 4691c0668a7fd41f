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
        f"error: canonical table {tmp_path / 'nope'} does not exist; run `fraud-app etl` "
        "first, or set features.input (--input) to a canonical Parquet table"
    )
