"""Ctrl-C (SIGINT to the process group, as a terminal sends it) stops a command with exit
130 and one `error:` line saying what a re-run finds, its lock released, nothing published.
Spark's JVM gets the signal too: pyspark's SIGINT handler then cancels the jobs through a
py4j connection that is gone, and py4j logged two ERROR tracebacks (`Exception while sending
command.`, `KeyboardInterrupt while sending command.`) before `error: interrupted`.
A real `fraud-app etl` on local Spark, interrupted while it holds the lock."""

from __future__ import annotations

import logging
import os
import signal
import sys

import pytest

from fraud_app import interrupts
from pipelines import cli_stops
from pipelines.cli_logging import after_interrupt
from tests.pipelines.test_cli_sigterm import etl_holding_its_lock
from tests.processes import CLI_DEADLINE_S


@pytest.mark.spark
def test_ctrl_c_to_the_process_group_ends_in_one_line_and_exit_130(tmp_path):
    proc, lock = etl_holding_its_lock(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=CLI_DEADLINE_S)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: fraud-app etl was interrupted (Ctrl-C, SIGINT) before it finished: nothing is "
        "left half-written (outputs are staged, then swapped in); run it again (an "
        "interrupted `train --run NAME` resumes from its last checkpoint)"
    ], err[-3000:]
    assert out == "" and not lock.exists()


def _record(exc: BaseException, pathname: str) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("root", logging.ERROR, pathname, 1, "x", None, info)


def test_only_py4j_records_of_an_interrupted_call_are_dropped():
    py4j = "/venv/lib/python3.11/site-packages/py4j/clientserver.py"
    assert after_interrupt(_record(KeyboardInterrupt(), py4j))
    try:
        try:
            raise RuntimeError("reentrant call inside <_io.BufferedReader name=5>")
        except RuntimeError:
            raise ConnectionError("Error while sending or receiving") from None
    except ConnectionError as exc:
        exc.__context__ = RuntimeError("reentrant call inside <_io.BufferedReader name=5>")
        assert after_interrupt(_record(exc, py4j))
    assert not after_interrupt(_record(ConnectionError("JVM gone"), py4j))  # not a Ctrl-C
    # a SIGTERM's cleanup meeting the JVM gone (the process group got the signal too): the
    # labels commit's discard logged this traceback after the stop's `error:` line's cause
    gone = ConnectionError("Error while sending or receiving")
    gone.__context__ = ConnectionResetError(104, "Connection reset by peer")
    gone.__context__.__context__ = interrupts.Terminated(15)
    assert after_interrupt(_record(gone, py4j))
    # the cleanup's later calls: no Terminated in their chain, but the CLI got a SIGTERM
    assert not after_interrupt(_record(ConnectionResetError(104, "reset"), py4j))
    cli_stops.TERMINATED.set()
    try:
        assert after_interrupt(_record(ConnectionResetError(104, "reset"), py4j))
        assert not after_interrupt(_record(ConnectionResetError(104, "reset"), "/app/x.py"))
    finally:
        cli_stops.TERMINATED.clear()
    assert not after_interrupt(_record(KeyboardInterrupt(), "/app/fraud_app/x.py"))
    assert not after_interrupt(logging.LogRecord("root", logging.ERROR, py4j, 1, "x", None, None))


def test_an_error_raised_while_ctrl_c_was_handled_is_still_ctrl_c(capsys):
    """pyspark's SIGINT handler raises KeyboardInterrupt inside a py4j call; py4j's clean-up
    then raises Py4JError ('Gateway must be connected to send cancel cmd.'). The suite met
    it once: exit 1 and a traceback instead of the one line and 130."""
    from py4j.protocol import Py4JError

    from pipelines.cli_failures import failed

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise Py4JError("Gateway must be connected to send cancel cmd.")  # noqa: B904
    except Py4JError as exc:
        assert failed("etl", exc) == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C, SIGINT)" in err and "Traceback" not in err
    with pytest.raises(Py4JError):  # the same error without an interrupt is a bug
        failed("etl", Py4JError("Gateway must be connected to send cancel cmd."))
