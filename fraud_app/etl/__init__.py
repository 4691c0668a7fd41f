"""Raw files -> canonical, deduplicated, date-partitioned Parquet + quarantine.

Public API (import from the submodules; this package imports nothing so that the
config models stay importable without Spark):
    fraud_app.etl.pipeline.run_etl(spark, config) -> EtlResult
    fraud_app.etl.pipeline.annotate_rows / valid_rows / quarantine_rows / deduplicate
    fraud_app.etl.rules.REASON_CODES
    fraud_app.etl.config.EtlSection  (config section `etl`)
"""
