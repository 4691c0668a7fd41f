"""The trials of one tune run, written to disk as each one ends.

`<paths.reports>/tune-<run>.trials.jsonl`: one JSON line per trial that ended (its
validation metrics, or the `error` it failed with), appended and flushed to disk before
the next trial starts. A tune stopped mid-way (SIGTERM, Ctrl-C, a lost node) kept no
trial: the report was written only after the last one. Now the finished trials stay, and
`fraud-app tune --run <run>` with the same config reuses them (a trial is reused when
its whole config, `tune` section aside, has the fingerprint of a recorded trial that
did not fail) and trains the others. `--replace` starts a new journal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from fraud_app import jsonout
from fraud_app.config import AppConfig

logger = logging.getLogger(__name__)


def journal_path(config: AppConfig, run: str) -> Path:
    return config.paths.resolve("reports") / f"tune-{run}.trials.jsonl"


def fingerprint(trial_config: AppConfig) -> str:
    """What a trial's result depends on: its config without the `tune` section (which
    only says which trials to run and where the best config goes)."""
    data = trial_config.model_dump(mode="json", exclude={"tune"})
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TrialJournal:
    """Append-only JSON lines; a torn last line (a kill while writing it) is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                logger.warning("tune: %s line %d is not a whole JSON record (a stop while "
                               "it was written); that trial is trained again", self.path, n)  # fmt: skip
                continue
            if isinstance(record, dict) and "config_sha256" in record:
                out.append(record)
        return out

    def finished(self) -> dict[str, dict[str, Any]]:
        """fingerprint -> the last recorded trial of that config that did not fail."""
        return {r["config_sha256"]: r for r in self.records() if "error" not in r}

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = jsonout.dumps(record, indent=None, default=str) + "\n"
        with open(self.path, "a+b") as f:
            if f.tell() > 0:  # a torn last line ends here: start this record on its own
                f.seek(-1, os.SEEK_END)
                line = ("" if f.read(1) == b"\n" else "\n") + line
            f.write(line.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
