"""How the CLI stops: SIGTERM turned into `Terminated`, and the `error:` line and exit code
of a command stopped by a signal or Ctrl-C.

Owns the SIGTERM handler and the flag it sets (`TERMINATED`, read by the logging filter and
by `main`), the stop line true to what the command had committed (fraud_app.interrupts
records it) and whether an exception is (or was raised while handling) a Ctrl-C. It does not
own the handler's installation (pipelines.cli.main) or the exit codes of other failures
(pipelines.cli_failures).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from fraud_app import interrupts
from fraud_app.errors import in_chain

TERMINATED = threading.Event()  # set by the first SIGTERM, even if cleanup then fails


def on_sigterm(signum: int, frame) -> None:
    """SIGTERM -> Terminated in the main thread, so every cleanup path runs (locks released,
    staged outputs discarded, the MLflow run marked FAILED); Python's default ended the
    process at once, leaving the lock file and staging directories behind. Held back
    while an output is being swapped in (fraud_app.interrupts.critical)."""
    TERMINATED.set()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    # A signal sent to the process group stops Spark's JVM too: py4j then logs each failed
    # call of the cleanup at ERROR with a traceback, the consequence of the stop, not news.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    interrupts.stop(signum)


def terminated(command: str) -> int:
    print(stop_message(command, "terminated (SIGTERM)"), file=sys.stderr)
    return 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM


def stop_message(command: str, how: str) -> str:
    """The `error:` line of a stopped command, true to what it had committed: a stop held
    back until a commit was done said "before it finished: nothing is left half-written"
    while that output was complete (fraud_app.interrupts.progress)."""
    done, cut = interrupts.progress()
    if cut:
        return (
            f"error: fraud-app {command} was {how} inside a commit: not committed: "
            f"{'; '.join(cut)}" + (f"; committed before it: {'; '.join(done)}" if done else "")
        )
    if done:
        return (
            f"error: fraud-app {command} was {how} after it committed {'; '.join(done)}; what "
            "came after it was not done (nothing of it is half-written; its summary was not "
            "printed) and its locks are released"
        )
    locks = " and its locks are released" if how.startswith("terminated") else ""
    return (
        f"error: fraud-app {command} was {how} before it finished: nothing is left "
        f"half-written (outputs are staged, then swapped in){locks}; run it again (an "
        "interrupted `train --run NAME` resumes from its last checkpoint)"
    )


def interrupted(exc: BaseException) -> bool:
    """Whether `exc` is a KeyboardInterrupt or was raised while one was handled."""
    return in_chain(exc, KeyboardInterrupt) is not None
