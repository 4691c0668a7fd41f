"""The ETL's staged input and the small questions it asks of it, answered as it is written.

`run_etl` parses its input once into a staged Parquet dataset (one row per input record,
fraud_app.etl.pipeline.annotate_rows + ROW_KEY) and reads everything else from it. Of
that stage it asks how many records it holds (the row accounting; none: EmptyInputError),
and of its published-bound rows (no reason) the wall clocks in etl.time_zone's overlap and
whether every timestamp is a date (fraud_app.etl.local_times), the clock's resolution
(fraud_app.etl.clock_resolution) and label_time's (fraud_app.etl.label_clock), the
country codes read as alpha-2 or unknown (fraud_app.etl.country_codes), the built-in
label words of each kind (fraud_app.etl.label_words) and the optional ids etl.missing_ids read as
missing (fraud_app.etl.id_checks), and, when the config leaves the amounts' unit open,
their integrality and median (fraud_app.etl.amounts). Each was a count or an aggregation
of its own after the write (session 40: 7 Spark jobs of a one-row append's 43). Here they are the
aggregates of ONE observation of the write job (`DataFrame.observe`: computed over the
rows its tasks write, reported when it ends): no job of their own.

Owns the write, its observation and the read back; each check's module owns its
aggregates (`summary_columns`) and what their values mean (`*_of`, with its WARNING).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from fraud_app.etl import (
    amounts,
    clock_resolution,
    country_codes,
    id_checks,
    label_clock,
    label_words,
    local_times,
)
from fraud_app.etl.config import EtlSection
from fraud_app.etl.observed import OBSERVED_WAIT_S, observed_values
from fraud_app.etl.outputs import ROW_KEY
from fraud_app.etl.written import read_written

_ROWS = "__staged_rows"  # the metric of the staged rows (every record, reason or not)


@dataclass(frozen=True)
class Staged:
    """The staged input read back (`rows`) and its summary's values by name (`metrics`)."""

    rows: DataFrame
    metrics: dict[str, Any]

    @property
    def input_rows(self) -> int:
        return int(self.metrics[_ROWS])


def summary_columns(cfg: EtlSection) -> dict[str, Column]:
    """{name: aggregate} of every question asked of the stage (names unique per check)."""
    return {
        _ROWS: F.count(F.lit(1)),
        **local_times.summary_columns(cfg.time_zone),
        **clock_resolution.summary_columns(cfg.time_zone),
        **country_codes.summary_columns(),
        **label_clock.summary_columns(cfg.time_zone),
        **label_words.summary_columns(cfg),
        **(id_checks.summary_columns() if cfg.missing_ids else {}),
        **amounts.summary_columns(cfg),
    }


def stage_input(spark: SparkSession, annotated: DataFrame, path: str, cfg: EtlSection) -> Staged:
    """`annotated` keyed (ROW_KEY) and written once to `path`, read back, with its summary."""
    # parse once: re-reading the staged rows beats re-parsing the input, even for
    # Parquet input (1M rows, shared machine: 53-65 s staged vs 93-128 s re-parsed)
    keyed = annotated.withColumn(ROW_KEY, F.monotonically_increasing_id())
    columns = summary_columns(cfg)
    observation = Observation()
    observed = keyed.observe(observation, *[c.alias(n) for n, c in columns.items()])
    observed.write.mode("error").parquet(path)
    rows = read_written(spark, keyed.schema, path)  # an inferred schema: a job
    metrics = observation_values(observation, OBSERVED_WAIT_S)  # empty if unobserved
    if set(metrics) != set(columns):  # not observed: asked of the stage, one aggregation
        metrics = rows.agg(*[c.alias(n) for n, c in columns.items()]).first().asDict()
    return Staged(rows, metrics)


def observation_values(observation: Observation, wait_s: float) -> dict[str, Any]:
    """The observation's values once Spark has reported them, waiting at most `wait_s`
    seconds: {} past that, with a WARNING (fraud_app.etl.observed)."""
    return observed_values(observation, wait_s, "the staged input's checks",
                           "asking the staged rows with one Spark job instead")  # fmt: skip
