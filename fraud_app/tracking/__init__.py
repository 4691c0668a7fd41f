"""MLflow tracking, model logging and the registry: the only package that imports mlflow.

Modules import mlflow lazily or at module level, but nothing outside this package
may import it (import-linter contract in pyproject.toml). `config` is pure pydantic.
"""

from fraud_app.tracking.jobs import log_evaluation, log_scoring_job

__all__ = ["log_evaluation", "log_scoring_job"]
