"""The trials of one tune run, written to disk as each one ends.

`<paths.reports>/tune-<run>.trials.jsonl`: one JSON line per trial that ended (its
validation metrics, or the `error` it failed with), appended and flushed to disk before
the next trial starts. A tune stopped mid-way (SIGTERM, Ctrl-C, a lost node) kept no
trial: the report was written only after the last one. Now the finished trials stay, and
`fraud-app tune --run <run>` with the same config reuses them (a trial is reused when
its whole config, `tune` section aside, has the fingerprint of a recorded trial that
did not fail, trained on the same data: `data_sha256`, see `data_fingerprint`) and trains
the others. `--replace` starts a new journal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_app import interrupts, jsonout
from fraud_app.config import AppConfig

logger = logging.getLogger(__name__)


def journal_path(config: AppConfig, run: str) -> Path:
    return config.paths.local("reports") / f"tune-{run}.trials.jsonl"


def fingerprint(trial_config: AppConfig) -> str:
    """What a trial's result depends on: its config without the `tune` section (which
    only says which trials to run and where the best config goes)."""
    data = trial_config.model_dump(mode="json", exclude={"tune"})
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_fingerprint(summary: dict[str, Any], names: list[str], vector: str) -> str:
    """What a trial's result depends on besides its config: the rows of the train and
    validation windows (their bounds, rows, frauds, first and last times, and `content`,
    the checksum of their values that `split_by_time(content=True)` adds in the same
    aggregation) and the feature names. A tune resumed after the feature table changed (a
    daily `features` run moving the windows when splits.end is null, labels confirmed
    since) reused the finished trials' APs, scored on the old validation window, beside APs
    of the new one, and could call the config of an old trial best on numbers no trial of
    this data gave. Without `content` (review49e) a feature recomputed under an edited spec
    of the same name (every row, label and time as before) passed as the same data. The same
    rows rewritten (another file order, partitioning, a rebuild) keep it."""
    keys = ("start", "end", "rows", "frauds", "first", "last", "content")
    windows = {w: {k: summary["windows"][w].get(k) for k in keys} for w in ("train", "validation")}
    data = {"windows": windows, "feature_names": list(names), "vector": vector}
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def same_data(record: dict[str, Any], data: str | None) -> bool:
    """Whether a journal record was trained on the data `data` (data_fingerprint); a record
    without `data_sha256`, written before session 49, counts as this data's."""
    return record.get("data_sha256", data) == data


SEAL = "record_sha256"  # each line's own digest (session 40); lines before it have none


def _seal(record: dict[str, Any]) -> str:
    """The sha256 of `record` without its seal, as canonical JSON (keys sorted): the same
    for the record written and the record read back from its line."""
    body = {key: value for key, value in record.items() if key != SEAL}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TrialJournal:
    """Append-only JSON lines, each sealed with its own sha256 (`SEAL`). A torn last line
    (a kill while writing it) and a line whose seal fails (a flipped byte, an edit: its
    metric would rank the trial, and its config would be called best, on numbers no trial
    gave) are skipped with a WARNING naming the line; their trials are trained again. A
    line without a seal (written before session 40) is read as before."""

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
            if not isinstance(record, dict) or not isinstance(record.get("config_sha256"), str):
                logger.warning("tune: %s line %d is not a trial record (a JSON object with its "
                               "config_sha256); that trial is trained again", self.path, n)  # fmt: skip
                continue
            if SEAL in record and record[SEAL] != _seal(record):
                logger.warning("tune: %s line %d does not match its %s (changed after it was "
                               "written: a flipped byte, an edit); that trial is trained again",
                               self.path, n, SEAL)  # fmt: skip
                continue
            out.append({key: value for key, value in record.items() if key != SEAL})
        return out

    def finished(self, data: str | None = None) -> dict[str, dict[str, Any]]:
        """fingerprint -> the last recorded trial of that config that did not fail (with
        `data`: trained on that data; a record without `data_sha256`, written before session
        49, is read as before)."""
        return {r["config_sha256"]: r for r in self.records()
                if "error" not in r and same_data(r, data)}  # fmt: skip

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.loads(jsonout.dumps(record, indent=None, default=str))  # as read back
        line = jsonout.dumps({**record, SEAL: _seal(record)}, indent=None) + "\n"
        with open(self.path, "a+b") as f:
            if f.tell() > 0:  # a torn last line ends here: start this record on its own
                f.seek(-1, os.SEEK_END)
                line = ("" if f.read(1) == b"\n" else "\n") + line
            f.write(line.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())


@dataclass(frozen=True)
class JournaledTrials:
    """The trials of one tune run against its journal: each search point, its config and
    that config's fingerprint (the journal's key), and the finished trials an earlier tune
    of this run name recorded (reused, not trained again)."""

    run: str
    points: list[dict[str, Any]]
    configs: list[AppConfig]
    prints: list[str]
    journal: TrialJournal
    earlier: dict[str, dict[str, Any]]
    data: str | None = None  # data_fingerprint of this tune's windows

    @classmethod
    def open(cls, config: AppConfig, run: str, points, configs, *, replace: bool,
             data: str | None = None):  # fmt: skip
        """The journal of `run` (a new one with `replace`), with a WARNING when it holds
        trials of an earlier tune of this run that stopped before its report, and one when
        some of them were trained on other data (`data`: data_fingerprint), which are
        trained again."""
        journal = TrialJournal(journal_path(config, run))
        if replace:
            journal.reset()
        earlier = journal.finished(data)
        prints = [fingerprint(c) for c in configs]
        trials = cls(run, points, configs, prints, journal, earlier, data)
        stale = {r["config_sha256"] for r in journal.records()
                 if "error" not in r and not same_data(r, data)}  # fmt: skip
        stale = len(stale.intersection(prints).difference(earlier))
        if stale:
            logger.warning(
                "tune run %s: %d finished trial(s) of this search in %s were trained on other "
                "data (the feature table's train or validation window has changed since: other "
                "rows, frauds or features); their APs are not comparable with this data's, so "
                "they are trained again", run, stale, journal.path,
            )  # fmt: skip
        if earlier:  # an earlier tune of this run name stopped before its report
            logger.warning(
                "tune run %s: %s (an earlier tune of this run stopped before it finished) holds "
                "%d finished trial(s); %d of them match(es) this search and is reused, %d "
                "trial(s) left to train", run, journal.path, len(earlier), trials.reused,
                len(points) - trials.reused,
            )  # fmt: skip
        return trials

    @property
    def reused(self) -> int:
        return sum(f in self.earlier for f in self.prints)

    def reused_record(self, i: int) -> dict[str, Any] | None:
        """Trial i's record from the journal when an earlier tune finished it, else None."""
        if self.prints[i] not in self.earlier:
            return None
        return {**self.earlier[self.prints[i]], "trial": i, "params": self.points[i],
                "reused_from": str(self.journal.path)}  # fmt: skip

    def stopped(self) -> None:
        """Say what a stopped tune left (counted from the journal, what is on disk, not
        from the trials in memory) and how to go on."""
        ours, run, n, path = set(self.prints), self.run, len(self.points), self.journal.path
        kept = {r["config_sha256"]: r for r in self.journal.records()
                if r["config_sha256"] in ours and same_data(r, self.data)}  # fmt: skip
        done = sum("error" not in r for r in kept.values())
        logger.warning(
            "tune run %s stopped with %d of %d trial(s) recorded (%d finished, %d failed) in "
            "%s: `fraud-app tune --run %s` with the same config reuses the finished ones and "
            "trains the rest", run, len(kept), n, done, len(kept) - done, path, run,
        )  # fmt: skip
        if kept:  # the CLI's stop line says so (it said "nothing is left half-written")
            interrupts.committed(
                f"{done} finished and {len(kept) - done} failed of {n} tune trial(s) "
                f"in {path} (`fraud-app tune --run {run}` with the same config reuses "
                "the finished ones and trains the rest)"
            )
