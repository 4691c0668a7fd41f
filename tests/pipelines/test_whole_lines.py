"""The CLI's stderr gives each thread's text a line at a time: another thread's print
split around the `error:` line (forty dashes, then its newline) glued the two."""

from __future__ import annotations

import io
import sys
import threading

from pipelines import cli
from pipelines.whole_lines import WholeLines


def _split_print_around(stream, main_line: str) -> None:
    """A thread writes forty dashes, the main thread writes `main_line`, then the thread
    writes its newline: print()'s two calls, interleaved as under a SIGTERM."""
    dashes_out, line_out = threading.Event(), threading.Event()

    def server_thread():
        stream.write("-" * 40)
        dashes_out.set()
        line_out.wait(10)
        stream.write("\n")

    t = threading.Thread(target=server_thread)
    t.start()
    assert dashes_out.wait(10)
    print(main_line, file=stream)
    line_out.set()
    t.join(10)


def test_an_error_line_printed_while_another_thread_is_mid_line_starts_its_own_line():
    raw = io.StringIO()
    _split_print_around(WholeLines(raw), "error: stopped")
    assert raw.getvalue().splitlines() == ["error: stopped", "-" * 40]


def test_without_it_the_lines_were_glued():  # the defect, on a bare stream
    raw = io.StringIO()
    _split_print_around(raw, "error: stopped")
    assert raw.getvalue().splitlines()[0] == "-" * 40 + "error: stopped"


def test_flush_and_drain_let_unfinished_lines_out():
    raw = io.StringIO()
    lines = WholeLines(raw)
    lines.write("progress 10%")
    assert raw.getvalue() == ""
    lines.flush()  # a writer that flushes means it
    assert raw.getvalue() == "progress 10%"
    t = threading.Thread(target=lambda: lines.write("cut short"))
    t.start()
    t.join()
    lines.write("\nlast\n")
    lines.drain()
    assert raw.getvalue() == "progress 10%\nlast\ncut short\n"
    assert lines.getvalue() == raw.getvalue()  # any other attribute is the stream's


def test_main_writes_through_it_and_puts_stderr_back(tmp_path, capsys):
    before = sys.stderr
    code = cli.main(["-c", str(tmp_path / "absent.yaml"), "etl"])
    assert code == 2
    assert sys.stderr is before
    err = capsys.readouterr().err
    assert [x for x in err.splitlines() if x.startswith("error:")], err
