"""`fraud-app init DIR`: a starter config and an editable copy of the shipped feature specs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path

import yaml

from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.resources import example_config, shipped_spec_dir


def init_project(directory: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write DIR/config.yaml and DIR/feature_specs/*.yaml; return what was written.

    The config is the annotated example with absolute paths (so a scheduler may run it
    from any working directory): data under DIR/work, specs from DIR/feature_specs.
    Existing files are never overwritten unless `force`. `raw` in the result is the
    config's `paths.raw`, where `etl` reads an export by default.
    """
    root = Path(directory).resolve()
    config_path = root / "config.yaml"
    specs = root / "feature_specs"
    _check_target(root, (config_path, specs), force)
    config_text = _starter_config(root, specs)  # before anything is written
    made = [p for p in (root, *root.parents) if not p.exists()]  # the folders init creates
    try:
        root.mkdir(parents=True, exist_ok=True)
        _write_staged(root, config_text)
    except OSError as exc:
        for folder in made:  # nothing of init's left: a re-run needs no --force
            with contextlib.suppress(OSError):
                folder.rmdir()
        where = f" ({exc.filename})" if exc.filename else ""
        raise ConfigError(
            f"fraud-app init: cannot write into {root}: {exc.strerror}{where}; nothing was "
            "written (its files are staged, then moved in whole): fix that, then run it again"
        ) from exc
    raw = AppConfig.model_validate(yaml.safe_load(config_text)).paths.resolve("raw")
    return {"config": config_path, "feature_specs": specs, "raw": raw}


def _check_target(root: Path, files: tuple[Path, ...], force: bool) -> None:
    """ConfigError before anything is written: init's files exist (without `force`), DIR is
    a file, or its path is not UTF-8."""
    if not force:
        taken = [str(p) for p in files if p.exists()]
        if taken:
            raise ConfigError(
                f"fraud-app init: {', '.join(taken)} already exist(s); "
                "choose an empty directory or pass --force to overwrite"
            )
    if root.exists() and not root.is_dir():  # it said "cannot write into DIR: File exists"
        raise ConfigError(f"fraud-app init: {root} is a file; pass a new or empty directory")
    try:
        str(root).encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes that are not UTF-8 (os.fsdecode's escapes)
        raise ConfigError(
            f"fraud-app init: the path {shell_word(str(root))} is not valid UTF-8 (at "
            f"character {exc.start + 1}); a config file (UTF-8 YAML) cannot name it, and the "
            "config written would be refused when read. Choose a directory with a UTF-8 name"
        ) from None


def _write_staged(root: Path, config_text: str) -> None:
    """Write feature_specs/*.yaml and config.yaml into a hidden folder of `root`, then move
    them in (renames: no space needed), config.yaml last. A disk that filled part-way left
    the specs copied so far and a truncated config.yaml, and the re-run then needed
    --force. An existing spec of the same name (--force) is replaced; other files stay."""
    staging = Path(tempfile.mkdtemp(prefix=".fraud-app-init-", dir=root))
    try:
        staged_specs = staging / "feature_specs"
        staged_specs.mkdir()
        for spec in sorted(shipped_spec_dir().glob("*.yaml")):
            shutil.copyfile(spec, staged_specs / spec.name)
        (staging / "config.yaml").write_text(config_text, encoding="utf-8")
        specs = root / "feature_specs"
        if not specs.exists():
            staged_specs.rename(specs)
        else:
            specs.mkdir(exist_ok=True)  # a file there: the error names it
            for spec in sorted(staged_specs.iterdir()):
                os.replace(spec, specs / spec.name)
        os.replace(staging / "config.yaml", root / "config.yaml")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _quoted(path: str) -> str:
    """A YAML double-quoted scalar of `path` (JSON's string syntax): non-ASCII letters as
    themselves (`ü`, not the escape `\\u00fc`), unless a character is not printable (YAML
    refuses C1 controls; a lone surrogate cannot be written as UTF-8): then all escaped."""
    text = json.dumps(path, ensure_ascii=False)
    return text if text.isprintable() else json.dumps(path)


# what a YAML comment may hold: PyYAML's printable set less its line breaks (NEL U+0085,
# LS U+2028, PS U+2029, CR): one of those ended the comment, and the rest of the command
# became YAML (a ParserError), a control character was refused (a ReaderError)
_COMMENT_SAFE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def shell_word(path: str) -> str:
    """`path` as one POSIX shell word: shlex.quote, or, for a path with characters a YAML
    comment or a terminal line cannot hold (line separators, controls, bytes that are not
    UTF-8), bash's $'...' with them escaped (`$'/data/a\\u0085b'`), so the commands in the
    config's header and the `next:` line stay one line and copy-paste as they are."""
    if _COMMENT_SAFE.fullmatch(path):
        return shlex.quote(path)
    out = []
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in "'\\":
            out.append("\\" + ch)
        elif _COMMENT_SAFE.fullmatch(ch) and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF
                       else f"\\U{code:08x}")  # fmt: skip
    return "$'" + "".join(out) + "'"


def _starter_config(root: Path, specs: Path) -> str:
    """The example config's text with paths.root and features.spec_dir pointed at DIR."""
    text = example_config().read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    old_root = str(data["paths"]["root"])
    out = "\n".join(_starter_line(line, root, specs, old_root) for line in text.splitlines())
    out += "\n"
    # the text must read back as the example with the two paths set, nothing else changed
    expected = {**data, "paths": {**data["paths"], "root": str(root / "work")},
                "features": {**data["features"], "spec_dir": str(specs)}}  # fmt: skip
    _check_reads_back(out, expected, root)
    return out


def _starter_line(line: str, root: Path, specs: Path, old_root: str) -> str:
    """One line of the example config as init writes it."""
    stripped = line.strip()
    # quoted (a JSON string is a YAML double-quoted scalar): a directory named with
    # ': ' or ' #' broke the file (ScannerError) or cut the path at the '#'
    if stripped.startswith("#"):
        # the header's commands named configs/demo.yaml, a file a user of this config
        # does not have (and "demo configuration"): they name this file
        line = line.replace("configs/demo.yaml", shell_word(str(root / "config.yaml")))
        return line.replace("fraud-app demo configuration", "fraud-app configuration "
                            "(written by `fraud-app init`, from the demo's)")  # fmt: skip
    if stripped.startswith("root:") and old_root in stripped:
        return line.replace(old_root, _quoted(str(root / "work")), 1)
    if stripped.startswith("spec_dir:"):
        indent = line[: len(line) - len(line.lstrip())]
        return (
            f"{indent}spec_dir: {_quoted(str(specs))}   # edit these specs, or null "
            "for the shipped ones"
        )
    return line


def _check_reads_back(out: str, expected: dict, root: Path) -> None:
    """ConfigError when the written text does not read back as `expected`."""
    try:
        check = yaml.safe_load(out)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"fraud-app init: the config written for {shell_word(str(root))} would not read "
            f"back ({' '.join(str(exc).split())}); choose a directory whose name has no "
            "control characters"
        ) from None
    if check != expected:
        raise ConfigError(
            f"fraud-app init: the config written for {shell_word(str(root))} would not read "
            "back as written (the example config's layout is not the expected one, or the "
            "directory's name changed it); choose a plain directory name"
        )
