"""A validation report's HTML page is UTF-8 (as its <meta charset> says) whatever the
process's locale: it was written with the locale's encoding, and under an ASCII locale a
table path with a non-ASCII letter failed with UnicodeEncodeError after the JSON was saved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_CHILD = """
import sys
from fraud_app.validation.report import ValidationReport
from fraud_app.validation.runner import CheckResult
r = CheckResult("betrag:range", "ExpectColumnValuesToBeBetween", "betrag_\\u20ac", "error", False,
                examples=({"betrag_\\u20ac": -1.0},), expected="0 <= betrag_\\u20ac")
ValidationReport("features", "/data/\\u00fcbersicht/features", "2024-01-01T00:00:00+00:00",
                 (r,)).save(sys.argv[1], "r1")
"""


def test_the_html_page_is_utf8_under_an_ascii_locale(tmp_path) -> None:
    # LC_ALL=C with Python's UTF-8 mode and C-locale coercion off: the locale encoding is
    # ASCII, as under a server's non-UTF-8 locale
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env.pop("LANG", None)
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "features_validation-r1.html").read_bytes().decode("utf-8")
    assert "<meta charset='utf-8'>" in page
    assert "/data/\u00fcbersicht/features" in page and "betrag_\u20ac" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "features_validation-r1.html", "features_validation-r1.json",
    ]  # fmt: skip
