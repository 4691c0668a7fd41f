"""`fraud-app init` into a directory whose name holds a Unicode line separator (NEL U+0085,
LS U+2028, PS U+2029), CR or another control character: the header's commands quoted the
path in a YAML comment, where such a character ends the line (the rest of the command was
read as YAML: a ParserError traceback) or is refused (a ReaderError). Now the comment holds
the path as bash's $'...' with those characters escaped and every YAML value round-trips;
a name that is not UTF-8 is refused in one line before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.config import load_config
from fraud_app.deploy import init_project
from fraud_app.deploy.starter import shell_word
from fraud_app.errors import ConfigError
from fraud_app.resources import example_config

ODD = ["\x85", "\u2028", "\u2029", "\r", "\n", "\t", "\x0b", "\x0c", "\x1c", "\x7f", "\x80",
       "\ufeff", "\u200b"]  # fmt: skip


@pytest.mark.parametrize("ch", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_init_writes_a_config_that_reads_back_as_written(tmp_path, ch):
    directory = tmp_path / f"a{ch}b" / "proj"
    written = init_project(directory)
    text = written["config"].read_text(encoding="utf-8")
    data = yaml.safe_load(text)  # every value as the example's, the two paths set
    example = yaml.safe_load(example_config().read_text(encoding="utf-8"))
    assert data["paths"].pop("root") == str(directory / "work")
    assert data["features"].pop("spec_dir") == str(directory / "feature_specs")
    example["paths"].pop("root"), example["features"].pop("spec_dir")
    assert data == example
    config = load_config(written["config"])
    assert config.paths.root == str(directory / "work")
    # the header's command stays on its comment line and names this file in the shell
    (run,) = [line for line in text.split("\n") if line.startswith("# Run:  fraud-app -c ")]
    word = run.removeprefix("# Run:  fraud-app -c ").removesuffix(" generate")
    assert word == shell_word(str(written["config"]))
    shell = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert shell.stdout == os.fsencode(written["config"])


def test_a_plain_name_keeps_the_plain_quoting():
    assert shell_word("/data/proj ü/config.yaml") == "'/data/proj ü/config.yaml'"
    assert shell_word("/data/a\x85b") == "$'/data/a\\u0085b'"
    assert shell_word("/x/it's\x85") == "$'/x/it\\'s\\u0085'"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names must be UTF-8")
def test_a_name_that_is_not_utf8_is_refused_before_anything_is_written(tmp_path):
    directory = Path(os.fsdecode(os.fsencode(tmp_path) + b"/a\xffb"))
    with pytest.raises(ConfigError) as got:
        init_project(directory)
    msg = str(got.value)
    assert "\n" not in msg
    assert msg.startswith(f"fraud-app init: the path $'{tmp_path}/a\\xffb' is not valid UTF-8")
    assert not os.path.exists(os.fsencode(tmp_path) + b"/a\xffb")


def test_the_cli_prints_a_next_line_that_is_one_line(tmp_path, capsys):
    from pipelines.cli import main

    directory = tmp_path / "a\u2028b"
    assert main(["init", str(directory)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        f"next: fraud-app -c $'{tmp_path}/a\\u2028b/config.yaml' run --generate"
    )
