"""The small generated data set of the batch scoring job's tests (test_job_*.py,
test_evaluate_window.py) and helpers to read what a job wrote; conftest.py's `trained`
fixture runs generate -> etl -> features -> train on it once (tiny model)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from fraud_app.config import load_config

ROOT = Path(__file__).resolve().parents[3]
OVERRIDES = {
    "generate.n_transactions": 6_000,
    "generate.n_cards": 800,
    "generate.n_merchants": 200,
    "generate.days": 40,
    "generate.fraud_rate": 0.02,
    "generate.partitions": 2,
    "generate.dirty_fraction": 0.0,
    "splits.test_days": 3,
    "splits.validation_days": 3,
    "balancing.unionpay_subsets.n_subsets": 2,
    "training.distributed.iterations": 30,
    "training.distributed.epochs": None,
    "training.distributed.global_batch_size": 64,
    "training.model.hidden": [8],
    "training.checkpoint": False,
    "scoring.reference_rows": 2_000,
}


def job_config(root: Path, **more):
    return load_config(ROOT / "configs" / "demo.yaml", {
        **OVERRIDES, "paths.root": str(root), "features.spec_dir": str(ROOT / "feature_specs"), **more,
    })  # fmt: skip


def scores_partition(root: Path, day) -> Path:
    return root / "scores" / f"event_date={day}"


def read_parquet(path: Path):
    return pq.read_table(str(path)).to_pandas()


def mlflow_run(root: Path, run_name: str):
    """The MLflow run a job logged (exactly one of that name) in the embedded store."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    [run] = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"attributes.run_name = '{run_name}'",
    )
    return run
