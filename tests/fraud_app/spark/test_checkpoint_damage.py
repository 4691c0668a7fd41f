"""Checkpoints written by a real distributed training (Spark barrier stages on local[2]),
then damaged on disk: the newest one, the one LATEST.json names, has a seal that does not
match or a file missing. Resuming failed the run ("delete the directory to start over":
every iteration lost); it now resumes from the checkpoint before it, with a warning
naming what was damaged, and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


def _flip_iteration(group) -> None:
    meta = group / "meta.json"
    text = meta.read_text()
    at = text.index('"iteration": ') + len('"iteration": ')
    meta.write_text(text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1 :])


DAMAGES = {
    "seal": (_flip_iteration, "meta.json: its content does not match its sha256"),
    "missing-weights": (lambda g: (g / "model" / "params.npz").unlink(), "params.npz"),
    "missing-shard": (
        lambda g: next(g.glob("optimizer.rank-00001-of-*.npz")).unlink(),
        "optimizer.rank-00001",
    ),
}


def _fit(df, iterations: int, checkpoints):
    common = dict(num_workers=2, global_batch_size=32, epochs=None, group_size=4)
    config = DistributedConfig(**common, iterations=iterations, checkpoint_dir=checkpoints)
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1, momentum=0.9),
                                 config)  # fmt: skip
    return trainer.fit(df)


@pytest.fixture(scope="module")
def uninterrupted(spark):
    return _fit(_df(spark), 12, None)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_skips_a_damaged_newest_checkpoint(spark, tmp_path, caplog, uninterrupted, damage):
    df = _df(spark)
    first = _fit(df, 8, str(tmp_path))  # checkpoints after iterations 4 and 8
    newest = tmp_path / json.loads((tmp_path / "LATEST.json").read_text())["group_dir"]
    before = sorted(p.name for p in tmp_path.glob("group-*") if p != newest)
    assert before, "the run kept no checkpoint before its newest"
    spoil, why = DAMAGES[damage]
    spoil(newest)

    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.checkpoint"):
        resumed = _fit(df, 12, str(tmp_path))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"checkpoint {newest.name} (named by "), warnings[0]
    assert why in warnings[0], warnings[0]
    assert warnings[0].endswith(
        f"resuming from the newest intact checkpoint {tmp_path / before[-1]}"
    )
    # back to the checkpoint after iteration 4: groups 1 and 2 trained again
    assert [(h["group"], h["start_iteration"]) for h in resumed.history] == [(0, 0), (1, 4), (2, 8)]
    assert resumed.history[0] == first.history[0]  # restored from the checkpoint as it was
    assert resumed.history[1] != first.history[1]  # trained again (its own stage times)
    np.testing.assert_allclose(
        resumed.model.params.data, uninterrupted.model.params.data, rtol=1e-5, atol=1e-6
    )
