"""`train` with more barrier workers than the master has task slots is refused before it
reads or prepares anything (cluster38: refused only after 161 s of data preparation, at
the trainer)."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.training.pipeline import run_training

pytestmark = pytest.mark.spark


def test_too_few_task_slots_are_refused_before_the_features_are_read(spark, tmp_path):
    config = load_config(
        None,
        {
            "paths.root": str(tmp_path / "work"),  # no feature table: reading it would fail
            "tracking.enabled": False,
            "training.distributed.num_workers": 3,  # local[2]: 2 slots
            "training.distributed.global_batch_size": 48,
        },
    )
    with pytest.raises(ConfigError, match=r"num_workers = 3 needs 3 task slots .* has 2"):
        run_training(spark, config, run="r1")
    models = tmp_path / "work" / "models"  # only the run name's lock: nothing trained
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []
