"""Whether a checkpoint directory could hold files another local user put there.

A resume trusts its checkpoint: it continues from those weights, that optimizer state
and that data position. Owns `check_private(directory)`, run before a resume reads
anything: the rule of fraud_app.file_trust (another user's entry, an entry every user may
write, a parent every user may write without the sticky bit: refused), as a TrainingError
in a checkpoint's words. Does not own reading the checkpoint (checkpoint.py).
"""

from __future__ import annotations

from pathlib import Path

from fraud_app import file_trust
from fraud_app.errors import TrainingError

CHECKPOINT = file_trust.Trust(
    kind="checkpoint",
    why=(
        "another local user could have replaced the checkpoint this run would resume from "
        "(its seals catch damage, not a forger)"
    ),
    yours="paths.checkpoints; an estimator's checkpointDir",
    fresh="use a new checkpoint directory to start over",
    error=TrainingError,
)


def check_private(directory: Path) -> None:
    """TrainingError if another local user could have written what a resume reads."""
    file_trust.check_private(directory, CHECKPOINT)
