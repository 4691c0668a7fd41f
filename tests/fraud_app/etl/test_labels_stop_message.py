"""A SIGTERM that lands while `fraud-app labels` swaps its dates in is held back until the
commit is done (fraud_app.interrupts); the CLI then said "terminated before it finished:
nothing is left half-written ... run it again", though the feed was applied whole. The
line now says what was committed. In-process through the CLI's own handler, a real
signal sent from the swap's first rename (the kill point tests/fraud_app/etl/
test_labels_kill.py uses in a child process), a real Spark session."""

from __future__ import annotations

import os
import signal

import pytest
import yaml

from fraud_app import interrupts
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.table_read import read_table
from pipelines.cli import main
from tests.fraud_app.etl.test_labels_feed import _config, _feed, _root
from tests.fraud_app.etl.test_labels_kill import FILLED

pytestmark = pytest.mark.spark


@pytest.fixture
def sigterm_inside_the_swap(monkeypatch):
    """SIGTERM to this process right after the first date's first rename (the stop is held
    back: the swap is a critical section)."""
    real, sent = HadoopFs.rename, []

    def rename(self, src, dst):
        out = real(self, src, dst)
        if "/event_date=" in src and "/old/" in dst and not sent:
            sent.append(src)
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(HadoopFs, "rename", rename)
    return sent


def test_a_stop_held_until_the_labels_commit_says_what_was_committed(
    spark, transactions_published, tmp_path, capsys, sigterm_inside_the_swap
):
    root = _root(transactions_published, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label\nt1,1\nt3,0\nt4,1\nt9,1\n")
    config = tmp_path / "labels.yaml"
    config.write_text(yaml.safe_dump(_config(root).model_dump(mode="json")))
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["-c", str(config), "labels", feed]) == 143
    assert signal.getsignal(signal.SIGTERM) is previous  # the CLI put the handler back
    assert sigterm_inside_the_swap, "the signal was never sent: nothing was tested"
    out, err = capsys.readouterr()
    assert out == ""  # stopped: no summary line
    table = root / "canonical"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: fraud-app labels was terminated (SIGTERM) after it committed the label feed: "
        f"3 date partition(s) of {table}, its quarantine rows and its report "
        f"{table}/_labels_report.json (complete: running it again on the same feed is not "
        "needed); what came after it was not done (nothing of it is half-written; its summary "
        "was not printed) and its locks are released"
    ], err[-3000:]
    assert (table / "_labels_report.json").is_file() and not (table / "_staging").exists()
    rows = read_table(spark, str(table), "canonical table", "etl").collect()
    assert {r.transaction_id: r.label for r in rows} == FILLED  # the feed is in, whole
    assert not (root / ".fraud-app.lock").exists()


def test_the_next_command_starts_with_nothing_committed(tmp_path, capsys):
    interrupts.committed("an output of an earlier command")
    # a command that fails before any commit: the record was cleared when it started
    assert main(["labels", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "t")]) == 2
    assert interrupts.progress() == ([], [])
