"""Human-facing JSON keeps non-ASCII text as itself (session 20): a path with `ü` printed
as `\\u00fc` (valid JSON, but not copy-pasteable). Files are UTF-8 whatever the locale,
and a stream that cannot encode a character gets its JSON escape, never an error."""

from __future__ import annotations

import io
import json

from fraud_app import jsonout
from pipelines.cli import main
from tests.pipelines.test_inspect_command import _ensemble_dir


def test_dumps_writes_non_ascii_as_itself():
    text = jsonout.dumps({"path": "/tmp/sp ü/work dir", "city": "Zürich 東京"})
    assert "ü" in text and "東京" in text and "\\u" not in text
    assert json.loads(text) == {"path": "/tmp/sp ü/work dir", "city": "Zürich 東京"}


def test_files_are_utf8_and_read_back(tmp_path):
    report = {"model": str(tmp_path / "modèle ü")}
    atomic = jsonout.write_atomic(tmp_path / "a.json", jsonout.dumps(report))
    assert jsonout.write_new(tmp_path / "b.json", jsonout.dumps(report))
    for path in (atomic, tmp_path / "b.json"):
        raw = path.read_bytes()
        assert "ü".encode() in raw and b"\\u00fc" not in raw
        assert json.loads(raw.decode("utf-8")) == report


def test_a_stream_without_the_character_gets_its_json_escape():
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="ascii")
    assert jsonout.escape_unencodable(stream) == "strict"
    stream.write(jsonout.dumps({"path": "/tmp/ü 😀"}, indent=None))
    stream.flush()
    assert json.loads(buffer.getvalue().decode("ascii")) == {"path": "/tmp/ü 😀"}


def test_the_cli_prints_a_non_ascii_path_as_written(tmp_path, capsys):
    path = _ensemble_dir(tmp_path / "sp ü")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sp ü" in out and "\\u00fc" not in out
    assert json.loads(out)["path"] == str(path)


def test_init_writes_a_non_ascii_path_readably_and_it_loads(tmp_path):
    from fraud_app.config import load_config
    from fraud_app.deploy import init_project
    from fraud_app.deploy.starter import _quoted

    written = init_project(tmp_path / "ünï")
    text = written["config"].read_bytes().decode("utf-8")
    assert f'root: "{tmp_path}/ünï/work"' in text and "\\u00fc" not in text
    assert load_config(written["config"]).paths.root == str(tmp_path / "ünï" / "work")
    # a character YAML cannot hold unescaped (C1 control, lone surrogate): all escaped
    assert _quoted("/a\x85b/ü") == '"/a\\u0085b/\\u00fc"'
    assert _quoted("/a\udcffb") == '"/a\\udcffb"'
