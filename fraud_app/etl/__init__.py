"""Raw files -> canonical, deduplicated, date-partitioned Parquet + quarantine.

Public API (import from the submodules; this package imports nothing so that the
config models stay importable without Spark):
    fraud_app.etl.pipeline.run_etl(spark, config) -> EtlResult
    fraud_app.etl.pipeline.annotate_rows / valid_rows / quarantine_rows / deduplicate
      (the write step: fraud_app.etl.outputs)
    fraud_app.etl.rules.REASON_CODES  (README: "What happens to bad input")
    fraud_app.etl.dedup  (identical vs conflicting duplicates, which version wins)
    fraud_app.etl.publish  (etl.mode: replace; append: fraud_app.etl.append_publish)
    fraud_app.etl.labels.run_labels(spark, config, inputs) -> LabelsResult  (late labels feed)
    fraud_app.etl.labels_classify  (fill / unchanged / 0 -> 1 correction / quarantine reason)
    fraud_app.etl.ledger  (every fill and correction; re-applied by a replace rebuild)
    fraud_app.etl.partition_swap.PartitionSwap  (per-date staging and swap; also scoring)
    fraud_app.etl.lock.RootLock  (one writer per paths.root)
    fraud_app.etl.config.EtlSection  (config section `etl`)
"""
