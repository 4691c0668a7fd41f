"""Data checks with Great Expectations, JSON + HTML reports, ValidationFailedError.

Public API (import from the submodules; this package imports nothing so that the
config models stay importable without Spark or Great Expectations):
    fraud_app.validation.validate.validate_canonical(spark, df, cfg) -> ValidationReport
    fraud_app.validation.validate.validate_features(spark, df, cfg) -> ValidationReport
    fraud_app.validation.suites.canonical_checks / feature_checks  (suites as data)
    fraud_app.validation.config.ValidationSection  (config section `validation`)
"""
