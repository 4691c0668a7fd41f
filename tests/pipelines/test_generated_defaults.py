"""`fraud-app run --generate` on the built-in defaults: the ETL reads what the generate
step wrote, with the generator's raw column names, unless the config maps columns itself.

Without this, a config without configs/demo.yaml's `etl.columns` stopped at ETL with
"lacks required column(s): transaction_id (looked for 'transaction_id') ..." on the
project's own generated files.
"""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import RAW_COLUMN_NAMES, RAW_TIMESTAMP_FORMAT, generate_raw, write_raw
from fraud_app.errors import SchemaError
from fraud_app.etl.pipeline import run_etl
from pipelines.workflow.pipeline import reading_generated

SMALL = {"generate.n_transactions": 3000, "generate.n_cards": 300, "generate.n_merchants": 60,
         "generate.partitions": 1, "generate.days": 5}  # fmt: skip


def test_unset_etl_settings_take_the_generators_and_given_ones_stay(tmp_path):
    cfg = load_config(None, {"paths.root": str(tmp_path)})
    etl = reading_generated(cfg).etl
    assert etl.columns == RAW_COLUMN_NAMES
    assert (etl.timestamp_format, etl.format) == (RAW_TIMESTAMP_FORMAT, cfg.generate.format)
    assert cfg.etl.columns == {}  # the caller's config is not changed
    mine = load_config(None, {"paths.root": str(tmp_path), "etl.columns": {"amount": "amt"},
                              "etl.timestamp_format": "yyyy-MM-dd'T'HH:mm:ss"})  # fmt: skip
    etl = reading_generated(mine).etl
    assert etl.columns == {"amount": "amt"}
    assert etl.timestamp_format == "yyyy-MM-dd'T'HH:mm:ss"


def test_etl_on_generated_files_with_the_default_config(spark, tmp_path):
    cfg = load_config(None, {"paths.root": str(tmp_path), **SMALL})
    write_raw(generate_raw(spark, cfg.generate), str(cfg.paths.resolve("raw")), "csv")
    with pytest.raises(SchemaError, match="lacks required column"):
        run_etl(spark, cfg)  # what `run --generate` did on the defaults
    result = run_etl(spark, reading_generated(cfg))
    assert result.output_rows > 0.95 * 3000 and result.quarantine_rows < 0.05 * 3000
